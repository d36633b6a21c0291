"""Finding patients and their trips: the search behind the list, the next trip, past and coming trips."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from sqlmodel import Session, func, select

from app.models import User
from app.times import iso_z
from dispatch import access
from dispatch.models import Trip
from dispatch.trips import TERMINAL
from patients.models import Patient

SEARCH_LIMIT = 200
QUERY_MAX_CHARS = 100
PAST_TRIPS_SHOWN = 20


def search(session: Session, q: str | None, *, limit: int = SEARCH_LIMIT) -> list[Patient]:
    """Return patients whose name or member ID holds ``q`` (all when empty), by name."""
    query = select(Patient).order_by(Patient.name, Patient.id).limit(limit)
    q = (q or "").strip()[:QUERY_MAX_CHARS]
    if q:
        query = query.where(Patient.name.icontains(q, autoescape=True) | Patient.member_id.icontains(q, autoescape=True))
    return list(session.exec(query).all())


def next_trips(session: Session, patient_ids: list[int], *, tz: str) -> dict[int, dict]:
    """Return each patient's next trip: the earliest scheduled pickup among trips not yet over."""
    if not patient_ids:
        return {}
    first = (select(Trip.patient_id, func.min(Trip.scheduled_pickup_at).label("at"))
             .where(Trip.patient_id.in_(patient_ids), Trip.status.not_in(TERMINAL))
             .group_by(Trip.patient_id).subquery())
    rows = session.exec(select(Trip).join(first, (Trip.patient_id == first.c.patient_id)
                                          & (Trip.scheduled_pickup_at == first.c.at))
                        .where(Trip.status.not_in(TERMINAL)).order_by(Trip.id)).all()
    out: dict[int, dict] = {}
    for trip in rows:
        out.setdefault(trip.patient_id, _row(trip, {}, tz))
    return out


def patient_trips(session: Session, user: User, patient: Patient, *, now: datetime, tz: str) -> dict[str, list[dict]]:
    """Return the patient's coming trips (not over, soonest first) and past ones (latest first) ``user`` may see."""
    visible = access.trip_filter(user, now=now)
    base = select(Trip).where(Trip.patient_id == patient.id, visible)
    coming = session.exec(base.where(Trip.status.not_in(TERMINAL))
                          .order_by(Trip.scheduled_pickup_at, Trip.id)).all()
    past = session.exec(base.where(Trip.status.in_(TERMINAL))
                        .order_by(Trip.scheduled_pickup_at.desc(), Trip.id.desc()).limit(PAST_TRIPS_SHOWN)).all()
    escort_ids = {t.escort_user_id for t in (*coming, *past) if t.escort_user_id}
    names = dict(session.exec(select(User.id, User.username).where(User.id.in_(escort_ids))).all()) if escort_ids else {}
    return {"coming": [_row(t, names, tz) for t in coming], "past": [_row(t, names, tz) for t in past]}


def _row(trip: Trip, names: dict[int, str], tz: str) -> dict:
    """Return what a page shows of one trip, its pickup time also in the service's zone (named)."""
    local = trip.scheduled_pickup_at.astimezone(ZoneInfo(tz))
    return {"id": trip.id, "status": trip.status, "scheduled_pickup_at": iso_z(trip.scheduled_pickup_at),
            "pickup_local": f"{local:%a %d %b %Y, %H:%M} ({tz})", "escort": names.get(trip.escort_user_id)}


def coordinators(session: Session) -> list[str]:
    """Return the user names of the care coordinators, for the sheet's choice of coordinator."""
    query = select(User.username).where(User.role == "coordinator", User.is_active.is_(True)).order_by(User.username)
    return list(session.exec(query).all())
