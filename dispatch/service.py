"""Dispatch actions that change state and tell the connected screens: commit, then emit."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session

from app import realtime
from app.models import User
from dispatch import alerts, present, trips
from dispatch.models import Alert, Trip


def set_status(session: Session, trip: Trip, status: str, user: User, *, now: datetime) -> Trip:
    """Change a trip's status, commit, and tell dispatchers and the escort."""
    trips.change_status(session, trip, status, user, now=now)
    session.commit()
    realtime.emit_trip(present.trip_public(session, trip), present.trip_for_escort(session, trip),
                       trip.escort_user_id)
    return trip


def acknowledge(session: Session, alert: Alert, user: User, *, now: datetime) -> dict:
    """Acknowledge an alert, commit, and tell dispatchers."""
    alerts.acknowledge(session, alert, user, now=now)
    session.commit()
    payload = alerts.public(alert, {user.id: user.username})
    realtime.emit_alert(payload)
    return payload


def resolve(session: Session, alert: Alert, user: User, *, category: str, note: str | None, now: datetime) -> dict:
    """Resolve an alert, commit, and tell dispatchers."""
    alerts.resolve(session, alert, user, category=category, note=note, now=now)
    session.commit()
    names = {user.id: user.username}
    if alert.acknowledged_by_id and alert.acknowledged_by_id != user.id:
        other = session.get(User, alert.acknowledged_by_id)
        names[other.id] = other.username
    payload = alerts.public(alert, names)
    realtime.emit_alert(payload)
    return payload
