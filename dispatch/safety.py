"""Escort safety: panic, and check-ins where a duress PIN silently calls for help."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session

from app.auth import check_secret
from app.models import User
from dispatch import alerts
from dispatch.models import Alert, Trip, TripEvent
from tracking.fix import iso_z


class SafetyError(ValueError):
    """A safety request that cannot be taken; the message is safe to show."""


def panic(session: Session, *, trip: Trip | None, device_id: int | None, at: datetime, now: datetime,
          lat: float | None = None, lon: float | None = None, source: str = "device") -> Alert:
    """Raise (or refresh) the panic alert with the last known position."""
    detail = {"source": source}
    if lat is not None and lon is not None:
        detail.update(lat=lat, lon=lon)
    alert, _new = alerts.raise_alert(session, trip_id=trip.id if trip else None, device_id=device_id,
                                     kind="panic", detail=detail, at=at, now=now)
    return alert


def verify_pin(user: User, pin) -> bool:
    """Check a PIN against both of the escort's PINs; return True for the duress PIN.

    Both hashes are always computed, so the safe and the duress PIN take the same time.
    """
    if not isinstance(pin, str) or not pin.isdigit() or not 4 <= len(pin) <= 8:
        raise SafetyError("enter your 4 to 8 digit PIN")
    if user.safe_pin_hash is None:
        raise SafetyError("no PIN is set for you yet; ask dispatch")
    is_safe = check_secret(user.safe_pin_hash, pin)
    is_duress = check_secret(user.duress_pin_hash, pin)
    if not (is_safe or is_duress):
        raise SafetyError("that PIN is not right")
    return is_duress and not is_safe


def check_new_pins(safe, duress) -> None:
    """Refuse PINs that are not 4 to 8 digits, or a duress PIN equal to the safe one."""
    for label, pin in (("safe", safe), ("duress", duress)):
        if not isinstance(pin, str) or not pin.isdigit() or not 4 <= len(pin) <= 8:
            raise SafetyError(f"the {label} PIN must be 4 to 8 digits")
    if safe == duress:
        raise SafetyError("the safe and duress PINs must differ")


def set_pins(user: User, safe: str, duress: str) -> None:
    """Store the escort's two PINs, hashed."""
    from app.auth import hash_secret

    check_new_pins(safe, duress)
    user.safe_pin_hash, user.duress_pin_hash = hash_secret(safe), hash_secret(duress)


def record_checkin(session: Session, user: User, trip: Trip | None, *, now: datetime) -> None:
    """Write the check-in to the trip's timeline (the same line for either PIN)."""
    if trip is not None:
        session.add(TripEvent(trip_id=trip.id, at=now, kind="checkin", user_id=user.id, detail={"by": user.username}))


def raise_duress(session: Session, user: User, trip: Trip | None, *, now: datetime) -> Alert:
    """Raise the duress alert for the escort's trip."""
    alert, _new = alerts.raise_alert(session, trip_id=trip.id if trip else None,
                                     device_id=trip.device_id if trip else None, kind="duress",
                                     detail={"escort": user.username}, at=now, now=now)
    return alert


def medication_warnings(medications: list[dict], start: datetime, end: datetime, tz: str) -> list[dict]:
    """Return the doses that fall inside a trip's expected window, for the planner to see."""
    from patients.medication import doses_between

    return [{"medication": d.name, "dose": d.dose, "due_at": iso_z(d.at)}
            for d in doses_between(medications, start, end, tz)]
