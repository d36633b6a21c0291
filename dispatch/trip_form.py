"""The trip form: read the posted fields into trip values, with one message per field that is wrong."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import Session, select

from dispatch.settings import SAFETY_DEFAULTS, validate_settings
from patients.models import Patient
from tracking.detectors import DetectionSettings

# The settings the form shows, in the dispatcher's words, with their units in the label.
SETTING_FIELDS: tuple[tuple[str, str], ...] = (
    ("corridor_m", "Corridor (m)"),
    ("stop_after_s", "Unexpected stop after (s)"),
    ("checkin_interval_s", "Check-in every (s)"),
    ("checkin_grace_s", "Check-in grace (s)"),
    ("signal_lost_after_s", "Signal lost after (s)"),
    ("escalate_after_s", "Escalate an unacknowledged alert after (s)"),
)
_PATIENT_REF = re.compile(r"\(#(\d{1,10})\)\s*$")
# An allowed stop's fields: one row each, ``stop-N-lat``, ``stop-N-lon`` and ``stop-N-address`` (its words, if found).
_STOP_FIELD = re.compile(r"^stop-(\d{1,4})-(lat|lon|address)$")
MAX_STOPS = 50


def setting_defaults() -> dict[str, float]:
    """Return the default of every setting the form shows."""
    detection = DetectionSettings().to_dict()
    return {key: {**detection, **SAFETY_DEFAULTS}[key] for key, _ in SETTING_FIELDS}


def patient_label(patient: Patient) -> str:
    """Return how the patient field names a patient: the name and the id, so two of one name differ."""
    return f"{patient.name} (#{patient.id})"


@dataclass
class TripForm:
    """What the form holds: the raw values (shown back after an error), the errors by field, the parsed values."""

    raw: dict[str, str]
    errors: dict[str, str] = field(default_factory=dict)
    values: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """Say whether every field was read."""
        return not self.errors


def parse_local(raw: str, tz: str) -> datetime:
    """Read a ``datetime-local`` value in the office's zone; return it in UTC."""
    naive = datetime.fromisoformat(raw)
    if naive.tzinfo is not None:
        raise ValueError
    return naive.replace(tzinfo=ZoneInfo(tz)).astimezone(timezone.utc)


def local_value(value: datetime | None, tz: str) -> str:
    """Return a UTC time as a ``datetime-local`` value in the office's zone."""
    return value.astimezone(ZoneInfo(tz)).strftime("%Y-%m-%dT%H:%M") if value else ""


def read_number(form: TripForm, name: str, label: str, low: float, high: float) -> float | None:
    """Read a number field within [low, high], noting an error at the field."""
    raw = form.raw.get(name, "").strip()
    if not raw:
        form.errors[name] = f"Enter the {label.lower()}"
        return None
    try:
        value = float(raw)
    except ValueError:
        form.errors[name] = f"{label} must be a number"
        return None
    if not low <= value <= high:
        form.errors[name] = f"{label} must lie between {low:g} and {high:g}"
        return None
    return value


def read(session: Session, raw: dict[str, str], *, tz: str) -> TripForm:
    """Read the posted form; every wrong field gets its own message."""
    form = TripForm(raw={k: (v or "") for k, v in raw.items()})
    read_patient(session, form)
    for end, words in (("pickup", "Pickup"), ("dropoff", "Drop-off")):
        lat = read_number(form, f"{end}_lat", f"{words} latitude", -90, 90)
        lon = read_number(form, f"{end}_lon", f"{words} longitude", -180, 180)
        if lat is not None and lon is not None:
            # The address found by the form's search, when the coordinates are still its choice.
            form.values[end] = {"lat": lat, "lon": lon, "address": form.raw.get(f"{end}_address", "").strip() or None}
    _read_times(form, tz)
    escort = form.raw.get("escort", "").strip()
    form.values["escort"] = escort or None
    read_stops(form)
    _read_settings(form)
    return form


def read_patient(session: Session, form: TripForm) -> None:
    """Find the patient by ``Name (#id)`` or by a name only one patient has."""
    text = form.raw.get("patient", "").strip()
    if not text:
        form.errors["patient"] = "Choose the patient: type part of the name and pick from the list"
        return
    match = _PATIENT_REF.search(text)
    if match:
        patient = session.get(Patient, int(match.group(1)))
        found = [patient] if patient is not None else []
    else:
        found = session.exec(select(Patient).where(Patient.name == text).limit(2)).all()
    if len(found) != 1:
        form.errors["patient"] = (f"No patient called {text!r}: pick one from the list" if not found
                                  else f"More than one patient is called {text!r}: pick one from the list")
        return
    form.values["patient_id"] = found[0].id


def _read_times(form: TripForm, tz: str) -> None:
    """Read the pickup time (required) and the appointment (optional), local to the office."""
    for name, label, required in (("pickup_time", "Pickup time", True), ("appointment_time", "Appointment", False)):
        raw = form.raw.get(name, "").strip()
        if not raw:
            if required:
                form.errors[name] = "Enter the pickup time"
            form.values[name] = None
            continue
        try:
            form.values[name] = parse_local(raw, tz)
        except ValueError:
            form.errors[name] = f"{label} must be a date and time, like 2026-12-01T09:30"
    pickup, appointment = form.values.get("pickup_time"), form.values.get("appointment_time")
    if pickup and appointment and appointment < pickup:
        form.errors["appointment_time"] = "The appointment must be after the pickup time"


def stop_rows(raw: dict[str, str]) -> list[int]:
    """Return the numbers of the allowed-stop rows in the raw form values, in the order they were added."""
    return sorted({int(m.group(1)) for m in map(_STOP_FIELD.match, raw) if m})


def read_stops(form: TripForm) -> None:
    """Read the allowed-stop rows (a row with neither coordinate is left out); each wrong field gets its message."""
    stops = []
    for shown, n in enumerate(stop_rows(form.raw), start=1):
        if not form.raw.get(f"stop-{n}-lat", "").strip() and not form.raw.get(f"stop-{n}-lon", "").strip():
            continue
        lat = read_number(form, f"stop-{n}-lat", f"Stop {shown} latitude", -90, 90)
        lon = read_number(form, f"stop-{n}-lon", f"Stop {shown} longitude", -180, 180)
        if lat is not None and lon is not None:
            stops.append({"lat": lat, "lon": lon, "address": form.raw.get(f"stop-{n}-address", "").strip() or None})
    if len(stops) > MAX_STOPS:
        form.errors["allowed_stops"] = f"At most {MAX_STOPS} allowed stops"
        return
    form.values["allowed_stops"] = stops


def stops_raw(stops: list[dict]) -> dict[str, str]:
    """Return allowed stops as the form's raw row values."""
    raw = {}
    for n, stop in enumerate(stops or []):
        raw.update({f"stop-{n}-lat": f"{stop['lat']}", f"stop-{n}-lon": f"{stop['lon']}",
                    f"stop-{n}-address": stop.get("address") or ""})
    return raw


def _read_settings(form: TripForm) -> None:
    """Read the settings the dispatcher changed (empty: the default), checked as the API checks them."""
    given: dict[str, float] = {}
    for key, label in SETTING_FIELDS:
        raw = form.raw.get(f"setting_{key}", "").strip()
        if not raw:
            continue
        try:
            given[key] = float(raw)
        except ValueError:
            form.errors[f"setting_{key}"] = f"{label} must be a number"
    if any(k.startswith("setting_") for k in form.errors):
        return
    try:
        form.values["settings"] = validate_settings(given)
    except ValueError as exc:
        bad = next((k for k, _ in SETTING_FIELDS if k in str(exc)), SETTING_FIELDS[0][0])
        form.errors[f"setting_{bad}"] = str(exc)


def from_trip(trip, patient: Patient | None, escort: str | None, *, tz: str) -> dict[str, str]:
    """Return a trip as the form's raw values (the edit page starts from these)."""
    raw = {
        "patient": patient_label(patient) if patient else "", "escort": escort or "",
        "pickup_lat": f"{trip.pickup_lat}", "pickup_lon": f"{trip.pickup_lon}",
        "dropoff_lat": f"{trip.dropoff_lat}", "dropoff_lon": f"{trip.dropoff_lon}",
        "pickup_address": trip.pickup_address or "", "dropoff_address": trip.dropoff_address or "",
        "pickup_time": local_value(trip.scheduled_pickup_at, tz),
        "appointment_time": local_value(trip.appointment_at, tz),
        **stops_raw(trip.allowed_stops),
    }
    for key, _ in SETTING_FIELDS:
        value = (trip.settings or {}).get(key)
        raw[f"setting_{key}"] = f"{value:g}" if value is not None else ""
    return raw
