"""Who may see which patient and which trip: one place for the rules, used by every view.

- admins and dispatchers see every trip and the whole patient sheet;
- an escort sees the trips assigned to them and the sheet of those trips' patients, from
  assignment until ``ESCORT_SHEET_GRACE`` after the trip ends, without the dispatcher-only
  notes;
- a care coordinator sees the trips of the patients in their caseload
  (``Patient.coordinator_user_id``) and those patients' sheets, read-only, without the
  dispatcher-only notes;
- nobody else sees anything.

Views answer 404 ("no such trip") for a trip a user may not see, so that ids do not leak
what exists, and 403 with a clear message for a patient sheet that is not theirs.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, false, or_, true
from sqlmodel import Session, and_, select

from app.api import ApiError
from app.db import utcnow
from app.models import User
from dispatch.models import Trip
from dispatch.trips import TERMINAL
from patients.models import Patient
from patients.sheet import ESCORT, FULL, REVIEW

STAFF = frozenset({"admin", "dispatcher"})
# How long an escort may still read the sheet after the trip ended (to finish a handover).
ESCORT_SHEET_GRACE = timedelta(hours=2)


def trip_filter(user: User | None, *, now: datetime | None = None) -> ColumnElement[bool]:
    """Return a WHERE clause on ``Trip`` that keeps the trips ``user`` may see (at ``now``)."""
    if user is None:
        return false()
    if user.role in STAFF:
        return true()
    if user.role == "escort":
        since = (now or utcnow()) - ESCORT_SHEET_GRACE
        return and_(Trip.escort_user_id == user.id, Trip.status != "scheduled",
                    or_(Trip.status.not_in(TERMINAL), Trip.ended_at >= since,
                        and_(Trip.ended_at.is_(None), Trip.updated_at >= since)))
    if user.role == "coordinator":
        caseload = select(Patient.id).where(Patient.coordinator_user_id == user.id)
        return Trip.patient_id.in_(caseload)
    return false()


def visible_trip(session: Session, user: User | None, trip_id: int) -> Trip:
    """Return the trip, or raise a 404 when there is none or this user may not see it (the same answer)."""
    trip = session.get(Trip, trip_id)
    if trip is None or not can_see_trip(session, user, trip):
        raise ApiError(f"no trip with id {trip_id}", 404)
    return trip


def can_see_trip(session: Session, user: User | None, trip: Trip, *, now: datetime | None = None) -> bool:
    """Say whether ``user`` may see ``trip`` (its log, track, exports) at ``now``.

    An escort sees their own trip while their access to its patient is open: the track
    starts and ends at the patient's door, so it is as private as the address.
    """
    if user is None:
        return False
    if user.role in STAFF:
        return True
    if user.role == "escort":
        return trip.escort_user_id == user.id and escort_window_open(trip, now=now or utcnow())
    if user.role == "coordinator":
        patient = session.get(Patient, trip.patient_id)
        return patient is not None and patient.coordinator_user_id == user.id
    return False


def escort_window_open(trip: Trip, *, now: datetime) -> bool:
    """Say whether an escort's access to the trip's patient is open: assigned and not long over."""
    if trip.status not in TERMINAL:
        return trip.status != "scheduled"
    ended = trip.ended_at or trip.updated_at
    return ended is not None and now - ended <= ESCORT_SHEET_GRACE


def sheet_view(session: Session, user: User | None, patient: Patient, *, now: datetime) -> str | None:
    """Return how much of ``patient``'s sheet ``user`` may read: FULL, ESCORT, REVIEW or None."""
    if user is None:
        return None
    if user.role in STAFF:
        return FULL
    if user.role == "coordinator":
        return REVIEW if patient.coordinator_user_id == user.id else None
    if user.role == "escort":
        trips = session.exec(
            select(Trip).where(and_(Trip.patient_id == patient.id, Trip.escort_user_id == user.id,
                                    or_(Trip.status.not_in(TERMINAL), Trip.ended_at >= now - ESCORT_SHEET_GRACE,
                                        Trip.updated_at >= now - ESCORT_SHEET_GRACE)))
        ).all()
        return ESCORT if any(escort_window_open(t, now=now) for t in trips) else None
    return None
