"""The patient sheet as stored and as shown: writing a validated body, reading it per view."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlmodel import Session, select

from app.models import User
from app.times import iso_z
from patients.medication import doses_between
from patients.models import Patient
from patients.schemas import COLUMN_FIELDS, DETAIL_FIELDS, SheetFields

# What the escort and the coordinator are not shown.
STAFF_ONLY = ("dispatcher_notes",)

# Sheet views, from most to least: what a role is shown (``dispatch.access.sheet_view`` picks one).
FULL, ESCORT, REVIEW = "full", "escort", "review"


class SheetError(ValueError):
    """A sheet change that cannot be made; the message says why."""


def apply(session: Session, patient: Patient, body: SheetFields, *, now: datetime) -> list[str]:
    """Write the fields the body set into ``patient``; return their names (for the audit log)."""
    given = body.model_fields_set
    data = body.model_dump(mode="json", exclude_none=False)
    for name in COLUMN_FIELDS:
        if name in given:
            if data[name] is None and name in ("name", "interpreter_needed", "mobility", "assistance"):
                raise SheetError(f"{name} cannot be cleared")
            setattr(patient, name, data[name])
    details = dict(patient.details or {})
    for name in DETAIL_FIELDS:
        if name in given:
            if data[name] is None:
                details.pop(name, None)
            elif name == "home":  # a position: the views geocoded any address into lat and lon
                details[name] = {"lat": data[name]["lat"], "lon": data[name]["lon"]}
            else:
                details[name] = data[name]
    patient.details = details
    if "contacts" in given:
        patient.contacts = [{k: v for k, v in c.items() if v is not None} for c in (data["contacts"] or [])]
    if "medications" in given:
        patient.medications = [{k: v for k, v in m.items() if v is not None} for m in (data["medications"] or [])]
    if "coordinator" in given:
        patient.coordinator_user_id = _coordinator_id(session, body.coordinator)
    patient.updated_at = now
    return sorted(given)


def _coordinator_id(session: Session, username: str | None) -> int | None:
    """Return the id of the named care coordinator, or fail clearly."""
    if not username:
        return None
    user = session.exec(select(User).where(User.username == username)).first()
    if user is None or user.role != "coordinator":
        raise SheetError(f"no care coordinator called {username!r}")
    return user.id


def shown(session: Session, patient: Patient, view: str, *, now: datetime, tz: str = "UTC") -> dict:
    """Return the sheet as ``view`` (FULL, ESCORT or REVIEW) may see it."""
    details = dict(patient.details or {})
    if view != FULL:
        for name in STAFF_ONLY:
            details.pop(name, None)
    coordinator = session.get(User, patient.coordinator_user_id) if patient.coordinator_user_id else None
    medications = [dict(m) for m in patient.medications or []]
    upcoming = doses_between(medications, now, now + timedelta(hours=48), tz)
    for med in medications:
        due = next((d.at for d in upcoming if d.name == med.get("name")), None)
        med["next_dose_at"] = iso_z(due)
    return {
        "id": patient.id, "name": patient.name, "member_id": patient.member_id, "language": patient.language,
        "interpreter_needed": patient.interpreter_needed, "mobility": patient.mobility,
        "assistance": patient.assistance, **{name: details.get(name) for name in DETAIL_FIELDS if name in details},
        "contacts": list(patient.contacts or []), "medications": medications,
        "coordinator": coordinator.username if coordinator else None,
        "view": view, "updated_at": iso_z(patient.updated_at or patient.created_at),
    }
