"""Places escorts report from the tablet: stored as "reported", warned about only once dispatch publishes them.

Who reported a place is kept for dispatchers: what escorts see of a published place (the
tablet's warnings, the notice on entering it) never names the reporter.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlmodel import Session, select

from app import audit, realtime
from app.models import User
from app.times import iso_z
from dispatch.flags import CATEGORIES, CATEGORY_LABELS
from dispatch.models import FlaggedPlace, Trip
from dispatch.present import last_fix
from dispatch.trips import ACTIVE

WHERE = ("here", "pickup", "dropoff")
STATUSES = ("published", "reported", "declined")
REPORT_RADIUS_M = 50.0  # a reported spot warns within this of it once published
REPORT_LIFETIME = timedelta(days=365)  # reviewed again within a year, like any flagged place
MINE_SHOWN = 20  # the tablet lists the escort's latest reports, not their whole history
# The trips whose reports the tablet lists: the one the escort has now. A pickup or drop-off report
# is labelled with that trip's address, often a patient's home: an earlier patient's must not stay
# readable on the tablet (by the next patient in the car, or whoever holds it).
CURRENT = ACTIVE | {"assigned"}


class ReportError(ValueError):
    """A report or review that cannot be done; ``status`` is the HTTP answer."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def _position(session: Session, trip: Trip, where: str) -> tuple[float, float, str]:
    """Return (lat, lon, label) of the place the escort means."""
    # The label is what other escorts read once published: a place, never a trip or a person.
    if where == "pickup":
        return trip.pickup_lat, trip.pickup_lon, trip.pickup_address or _near(trip.pickup_lat, trip.pickup_lon)
    if where == "dropoff":
        return trip.dropoff_lat, trip.dropoff_lon, trip.dropoff_address or _near(trip.dropoff_lat, trip.dropoff_lon)
    row = last_fix(session, trip)
    if row is None:
        raise ReportError("no position from this trip yet: report the pickup or the drop-off instead", 409)
    return row.lat, row.lon, _near(row.lat, row.lon)


def _near(lat: float, lon: float) -> str:
    """Return a position as a label."""
    return f"Near {lat:.5f}, {lon:.5f}"


def report(session: Session, *, user: User, trip: Trip, where: str, category: str, reason: str,
           now: datetime) -> FlaggedPlace:
    """Store an escort's report of a place on their trip, waiting for review; audit it."""
    if where not in WHERE:
        raise ReportError(f"where must be one of {', '.join(WHERE)}")
    if category not in CATEGORIES:
        raise ReportError(f"category must be one of {', '.join(CATEGORIES)}")
    reason = reason.strip()
    if not reason:
        raise ReportError("reason: say what the risk is")
    if trip.escort_user_id != user.id:
        raise ReportError(f"no trip with id {trip.id}", 404)
    lat, lon, label = _position(session, trip, where)
    place = FlaggedPlace(label=label[:200], category=category, reason=reason, lat=lat, lon=lon,
                         radius_m=REPORT_RADIUS_M, expires_at=now + REPORT_LIFETIME, status="reported",
                         reported_by_id=user.id, reported_trip_id=trip.id, created_by_id=user.id,
                         created_at=now, updated_at=now)
    session.add(place)
    session.flush()
    audit.record(session, user, "place_reported", object_type="flagged_place", object_id=place.id,
                 detail={"trip_id": trip.id, "where": where, "category": category})
    return place


def reported(session: Session) -> list[FlaggedPlace]:
    """Return the places waiting for review, oldest first."""
    return list(session.exec(select(FlaggedPlace).where(FlaggedPlace.status == "reported", FlaggedPlace.active)
                             .order_by(FlaggedPlace.created_at, FlaggedPlace.id)).all())


def listed(session: Session, status: str = "all") -> list[FlaggedPlace]:
    """Return the places escorts reported with this status (or all of them), newest first."""
    query = select(FlaggedPlace).where(FlaggedPlace.reported_by_id.is_not(None))
    if status != "all":
        query = query.where(FlaggedPlace.status == status)
    return list(session.exec(query.order_by(FlaggedPlace.created_at.desc(), FlaggedPlace.id.desc())).all())


def mine(session: Session, user: User, *, limit: int = MINE_SHOWN) -> list[FlaggedPlace]:
    """Return the places this escort reported on the trips they have now (theirs only, ``CURRENT``), newest first."""
    return list(session.exec(
        select(FlaggedPlace).join(Trip, Trip.id == FlaggedPlace.reported_trip_id)
        .where(FlaggedPlace.reported_by_id == user.id, Trip.escort_user_id == user.id, Trip.status.in_(CURRENT))
        .order_by(FlaggedPlace.created_at.desc(), FlaggedPlace.id.desc()).limit(limit)).all())


def state_words(place: FlaggedPlace, now: datetime) -> str:
    """Return where a report stands, in the words the reporting escort reads."""
    if place.status == "declined":
        return "Declined"
    if place.status == "published":
        if not place.active:
            return "Published, since retired"
        return "Published, since expired" if place.expires_at <= now else "Published"
    return "Waiting for review" if place.active else "Withdrawn by dispatch"


def _waiting(session: Session, place_id: int) -> FlaggedPlace:
    """Return the reported place, or raise: 404 when there is none, 409 when already reviewed."""
    place = session.get(FlaggedPlace, place_id)
    if place is None or not place.active:
        raise ReportError(f"no flagged place with id {place_id}", 404)
    if place.status != "reported":
        raise ReportError(f"flagged place {place_id} is already {place.status}", 409)
    return place


def publish(session: Session, place_id: int, *, user: User, now: datetime) -> FlaggedPlace:
    """Publish a reported place to the shared list: from now on it warns; audit it."""
    place = _waiting(session, place_id)
    place.status, place.reviewed_by_id, place.reviewed_at = "published", user.id, now
    place.updated_at = max(now, place.updated_at)  # only ever forward: the live maps' places_version
    session.add(place)
    audit.record(session, user, "place_published", object_type="flagged_place", object_id=place.id,
                 detail={"trip_id": place.reported_trip_id})
    return place


def decline(session: Session, place_id: int, *, user: User, reason: str, now: datetime) -> FlaggedPlace:
    """Decline a reported place with a reason (kept for the record, never warned about); audit it."""
    reason = (reason or "").strip()
    if not reason:
        raise ReportError("reason: say why the report is declined")
    place = _waiting(session, place_id)
    place.status, place.reviewed_by_id, place.reviewed_at = "declined", user.id, now
    place.updated_at = max(now, place.updated_at)  # only ever forward: the live maps' places_version
    place.decline_reason = reason[:1000]
    session.add(place)
    audit.record(session, user, "place_declined", object_type="flagged_place", object_id=place.id,
                 detail={"trip_id": place.reported_trip_id, "reason": place.decline_reason})
    return place


def public(place: FlaggedPlace, names: dict[int, str]) -> dict:
    """Return a report as dispatchers see it: with who reported it, from which trip, and its review."""
    return {"id": place.id, "status": place.status, "label": place.label, "category": place.category,
            "title": CATEGORY_LABELS.get(place.category, "Warning"), "reason": place.reason,
            "lat": place.lat, "lon": place.lon, "radius_m": place.radius_m,
            "reported_by": names.get(place.reported_by_id), "reported_trip_id": place.reported_trip_id,
            "reported_at": iso_z(place.created_at), "reviewed_by": names.get(place.reviewed_by_id),
            "reviewed_at": iso_z(place.reviewed_at), "decline_reason": place.decline_reason,
            "expires_at": iso_z(place.expires_at)}


def escort_public(place: FlaggedPlace, now: datetime) -> dict:
    """Return what the reporting escort is told of their own report (no reviewer, nothing of others)."""
    return {"id": place.id, "status": place.status, "state": state_words(place, now), "category": place.category,
            "title": CATEGORY_LABELS.get(place.category, "Warning"), "label": place.label, "reason": place.reason,
            "reported_at": iso_z(place.created_at), "reviewed_at": iso_z(place.reviewed_at),
            "decline_reason": place.decline_reason}


def tell_reporter(session: Session, place: FlaggedPlace, now: datetime) -> None:
    """After the commit of a review: send the reporting escort's tablets the report as it stands now,
    while its trip is still theirs and under way (an ended trip's addresses stay off the tablet)."""
    if place.reported_by_id is None or place.reported_trip_id is None:
        return
    trip = session.get(Trip, place.reported_trip_id)
    if trip is None or trip.escort_user_id != place.reported_by_id or trip.status not in CURRENT:
        return
    realtime.emit_to_escort("place_report", escort_public(place, now), place.reported_by_id)


def user_names(session: Session) -> dict[int, str]:
    """Return {user id: username}."""
    return {u.id: u.username for u in session.exec(select(User)).all()}
