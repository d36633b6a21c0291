"""Alerts: raise (one open per trip and kind), acknowledge, resolve, and their public form."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ColumnElement, and_, or_, true
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from app.crypto import open_fields, seal_fields
from app.models import User
from app.times import iso_z
from dispatch.escalation import LEVELS
from dispatch.models import Alert, TripEvent

KINDS = (
    "deviation", "stop", "panic", "duress", "missed_checkin", "signal_lost",
    "late", "hazard_zone", "medication_due", "pin_attempts", "low_battery", "flagged_place",
)
CATEGORIES = ("false", "test", "precautionary", "incident")
SEVERITY = {kind: rank for rank, kind in enumerate(
    ("panic", "duress", "pin_attempts", "missed_checkin", "signal_lost", "deviation", "stop", "hazard_zone", "flagged_place", "late",
     "medication_due", "low_battery")
)}
# Alerts the escort's side never learns of, nor their timeline entries, counts or figures:
# duress (someone is forcing the escort) and pin_attempts (someone else may hold the tablet).
# Whoever is shown the escort's tablet or login must find nothing.
SILENT = frozenset({"duress", "pin_attempts"})
# The roles that may know of silent alerts; every other one (escorts) may not.
KNOW_SILENT = frozenset({"admin", "dispatcher", "coordinator"})
# Trip events that tell of one alert (``detail`` has its ``alert_id`` and ``kind``).
ALERT_EVENTS = frozenset({"alert_raised", "alert_acknowledged", "alert_resolved", "alert_cleared", "notification"})


def hidden_kinds(user: User | None) -> frozenset[str]:
    """Return the alert kinds ``user`` may not know of: the silent ones, except for dispatch and review staff."""
    return frozenset() if user is not None and user.role in KNOW_SILENT else SILENT


def may_know(user: User | None, kind: str) -> bool:
    """Say whether ``user`` may know of an alert of this kind."""
    return kind not in hidden_kinds(user)


def known_to(user: User | None) -> ColumnElement[bool]:
    """Return a WHERE clause on ``Alert`` keeping the alerts ``user`` may know of."""
    hidden = hidden_kinds(user)
    return Alert.kind.not_in(sorted(hidden)) if hidden else true()


def hidden_alert_ids(session: Session, user: User | None, trip_id: int) -> frozenset[int]:
    """Return the ids of the trip's alerts ``user`` may not know of."""
    hidden = hidden_kinds(user)
    if not hidden:
        return frozenset()
    return frozenset(session.exec(select(Alert.id).where(Alert.trip_id == trip_id, Alert.kind.in_(sorted(hidden)))))


def event_known(kind: str, detail: dict | None, hidden: frozenset[str], hidden_ids: frozenset[int]) -> bool:
    """Say whether a trip event may be shown: not one telling of a hidden alert (by its id or its kind)."""
    if kind not in ALERT_EVENTS:
        return True
    detail = detail or {}
    return detail.get("alert_id") not in hidden_ids and detail.get("kind") not in hidden


# Keys of an alert's or trip event's detail that name a medication or reach a person (a
# notification's targets are e-mail addresses): sealed at rest, opened for those who may read them.
SEALED_DETAIL = ("medication", "dose", "key", "attempts", "reason")


def sealed(detail: dict) -> dict:
    """Return a detail to store: its medication and contact values sealed."""
    return seal_fields(detail, SEALED_DETAIL)


def opened(detail: dict | None) -> dict:
    """Return a stored detail with its sealed values opened."""
    return open_fields(detail or {})


class AlertError(ValueError):
    """An alert action that cannot be done; the message says why."""


def open_key(trip_id: int | None, device_id: int | None, kind: str) -> str:
    """Return the key that is unique while an alert of this kind is open for the trip."""
    return f"trip:{trip_id}:{kind}" if trip_id is not None else f"device:{device_id}:{kind}"


def find_open(session: Session, trip_id: int | None, device_id: int | None, kind: str) -> Alert | None:
    """Return the open alert of this kind on the trip (or device), if any."""
    key = open_key(trip_id, device_id, kind)
    return session.exec(select(Alert).where(Alert.open_key == key)).first()


def is_open(session: Session, trip_id: int | None, device_id: int | None, kind: str) -> bool:
    """Say whether an alert of this kind is open, with one light query (the ingest path asks)."""
    key = open_key(trip_id, device_id, kind)
    return session.connection().execute(select(Alert.id).where(Alert.open_key == key)).first() is not None


def raise_alert(session: Session, *, trip_id: int | None, device_id: int | None, kind: str,
                detail: dict, at: datetime, now: datetime) -> tuple[Alert, bool]:
    """Raise an alert, or update the open one of the same kind; return it and whether it is new."""
    if kind not in KINDS:
        raise AlertError(f"unknown alert kind {kind!r}")
    existing = find_open(session, trip_id, device_id, kind)
    if existing is not None:
        existing.detail = {**existing.detail, **detail}
        existing.updated_at = now
        session.add(existing)
        return existing, False
    alert = Alert(trip_id=trip_id, device_id=device_id, kind=kind, open_key=open_key(trip_id, device_id, kind),
                  raised_at=at, updated_at=now, detail=detail)
    try:
        # A savepoint: another process may raise the same alert at the same moment.
        with session.begin_nested():
            session.add(alert)
            session.flush()
    except IntegrityError:
        existing = find_open(session, trip_id, device_id, kind)
        if existing is None:
            raise
        return existing, False
    if trip_id is not None:
        session.add(TripEvent(trip_id=trip_id, at=at, kind="alert_raised",
                              detail={**detail, "alert_id": alert.id, "kind": kind}))
    return alert, True


def auto_resolve(session: Session, *, trip_id: int | None, device_id: int | None, kind: str,
                 detail: dict, at: datetime, now: datetime, note: str = "cleared automatically") -> Alert | None:
    """Resolve the open alert of this kind because its cause went away (back on route, moving, checked in)."""
    alert = find_open(session, trip_id, device_id, kind)
    if alert is None:
        return None
    alert.resolved_at = at
    alert.open_key = None
    alert.updated_at = now
    alert.note = note
    alert.detail = {**alert.detail, **{f"cleared_{k}": v for k, v in detail.items()}}
    session.add(alert)
    if trip_id is not None:
        session.add(TripEvent(trip_id=trip_id, at=at, kind="alert_cleared",
                              detail={"alert_id": alert.id, "kind": kind, "note": note}))
    return alert


def is_cleared(alert: Alert) -> bool:
    """Say whether the alert was cleared by its cause going away, not resolved by a person."""
    return alert.resolved_at is not None and alert.resolved_by_id is None


def acknowledge(session: Session, alert: Alert, user: User, *, now: datetime) -> Alert:
    """Record that a dispatcher has seen the alert (an open one, or one that cleared itself unseen)."""
    if alert.resolved_at is not None and not is_cleared(alert):
        raise AlertError("alert is already resolved")
    if alert.acknowledged_at is None:
        alert.acknowledged_at = now
        alert.acknowledged_by_id = user.id
        alert.updated_at = now
        session.add(alert)
        if alert.trip_id is not None:
            session.add(TripEvent(trip_id=alert.trip_id, at=now, kind="alert_acknowledged", user_id=user.id,
                                  detail={"alert_id": alert.id, "kind": alert.kind, "by": user.username}))
    return alert


def resolve(session: Session, alert: Alert, user: User, *, category: str, note: str | None, now: datetime) -> Alert:
    """Close an alert with a category and an optional note."""
    if category not in CATEGORIES:
        raise AlertError(f"category must be one of {', '.join(CATEGORIES)}")
    if alert.resolved_at is not None:
        cleared_unseen = is_cleared(alert) and alert.acknowledged_at is None
        raise AlertError("alert cleared itself: acknowledge it" if cleared_unseen else "alert is already resolved")
    if alert.acknowledged_at is None:
        acknowledge(session, alert, user, now=now)
    alert.resolved_at = now
    alert.resolved_by_id = user.id
    alert.category = category
    alert.note = note
    alert.open_key = None
    alert.updated_at = now
    session.add(alert)
    if alert.trip_id is not None:
        session.add(TripEvent(trip_id=alert.trip_id, at=now, kind="alert_resolved", user_id=user.id,
                              detail={"alert_id": alert.id, "kind": alert.kind, "category": category,
                                      "note": note, "by": user.username}))
    return alert


def open_alerts(session: Session, trip_id: int | None = None) -> list[Alert]:
    """Return unresolved alerts, most severe and oldest first."""
    query = select(Alert).where(Alert.resolved_at.is_(None))
    if trip_id is not None:
        query = query.where(Alert.trip_id == trip_id)
    rows = session.exec(query).all()
    return sorted(rows, key=lambda a: (SEVERITY.get(a.kind, 99), a.raised_at))


def unseen_clause() -> ColumnElement[bool]:
    """Return a WHERE clause on ``Alert``: cleared by itself (no person resolved it) and never acknowledged."""
    return and_(Alert.resolved_at.is_not(None), Alert.resolved_by_id.is_(None), Alert.acknowledged_at.is_(None))


def listed_alerts(session: Session) -> list[Alert]:
    """Return what the dispatcher's list shows: unresolved alerts and those that cleared unseen, most severe first.

    An alert that cleared itself stays listed, marked cleared, until a dispatcher acknowledges it.
    """
    rows = session.exec(select(Alert).where(or_(Alert.resolved_at.is_(None), unseen_clause()))).all()
    return sorted(rows, key=lambda a: (a.resolved_at is not None, SEVERITY.get(a.kind, 99), a.raised_at))


def public(alert: Alert, usernames: dict[int, str] | None = None) -> dict:
    """Return the alert as the API and the dispatcher page show it."""
    state = "resolved" if alert.resolved_at else "acknowledged" if alert.acknowledged_at else "open"
    names = usernames or {}
    return {
        "id": alert.id, "trip_id": alert.trip_id, "device_id": alert.device_id, "kind": alert.kind,
        "state": state, "raised_at": iso_z(alert.raised_at), "acknowledged_at": iso_z(alert.acknowledged_at),
        # Moves with every change (detail merged, acknowledged, resolved): screens keep the newest copy.
        "updated_at": iso_z(alert.updated_at),
        "acknowledged_by": names.get(alert.acknowledged_by_id) if alert.acknowledged_by_id else None,
        "resolved_at": iso_z(alert.resolved_at), "category": alert.category, "note": alert.note,
        "detail": opened(alert.detail),
        # Where, in words (reverse geocoded by the sweep); null until known or when there was no position.
        "place": alert.place or None,
        # Cleared by its cause going away; while ``acknowledged_at`` is null it stays on the dispatcher's list.
        "cleared": is_cleared(alert), "cleared_at": iso_z(alert.resolved_at) if is_cleared(alert) else None,
        **escalation_of(alert),
    }


def escalation_of(alert: Alert) -> dict:
    """Return how far up the chain the unanswered alert went (0: not escalated), when, and whom the last
    step reached, by role (``escalation.LEVELS``, never a person): what the trip's timeline says too."""
    level = alert.escalation_level or 0
    return {"escalation_level": level, "escalated_at": iso_z(alert.escalated_at),
            "escalated_to": LEVELS.get(level) if level else None}
