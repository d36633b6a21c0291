"""Escort safety: panic, check-ins with a safe or duress PIN (silent), and their alerts."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session

from app.auth import check_secret
from app.models import User
from dispatch import alerts
from dispatch.models import Alert, Trip, TripEvent


class SafetyError(ValueError):
    """A safety request that cannot be taken; the message is safe to show."""


def panic(session: Session, *, trip: Trip | None, device_id: int | None, at: datetime, now: datetime,
          lat: float | None = None, lon: float | None = None, source: str = "tablet") -> Alert:
    """Raise (or refresh) the panic alert with the last known position."""
    detail = {"source": source}
    if lat is not None and lon is not None:
        detail.update(lat=lat, lon=lon)
    alert, _new = alerts.raise_alert(session, trip_id=trip.id if trip else None, device_id=device_id,
                                     kind="panic", detail=detail, at=at, now=now)
    return alert


def checkin(session: Session, user: User, trip: Trip | None, pin: str, *, now: datetime) -> Alert | None:
    """Record a check-in; the duress PIN records the same and silently raises ``duress``.

    Both PIN hashes are always checked, so the two answers take the same time; the caller
    must answer both the same way. Returns the duress alert (for the dispatcher) or None.
    """
    if not isinstance(pin, str) or not pin.isdigit() or not 4 <= len(pin) <= 8:
        raise SafetyError("enter your 4 to 8 digit PIN")
    is_safe = check_secret(user.safe_pin_hash, pin)
    is_duress = check_secret(user.duress_pin_hash, pin)
    if not (is_safe or is_duress):
        raise SafetyError("that PIN is not right")
    trip_id = trip.id if trip else None
    if trip_id is not None:
        # Identical timeline lines either way: whoever reads the escort's trip later sees a check-in.
        session.add(TripEvent(trip_id=trip_id, at=now, kind="checkin", user_id=user.id, detail={"by": user.username}))
    if is_duress:
        alert, _ = alerts.raise_alert(session, trip_id=trip_id, device_id=trip.device_id if trip else None,
                                      kind="duress", detail={"escort": user.username}, at=now, now=now)
        return alert
    return None
