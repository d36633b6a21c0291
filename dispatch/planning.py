"""Re-planning trips: edit what a trip names, reassign its escort, duplicate it, and find free escorts."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlmodel import Session, select

from app import audit
from app.models import User
from dispatch import trips
from dispatch.models import Trip, TripEvent
from dispatch.settings import validate_settings

# What may change in each state: everything while planned; once under way the pickup has
# happened (or is being driven to), so only where it ends, who escorts it and how it is watched.
PLANNED = frozenset({"scheduled", "assigned"})
EDITABLE_WHILE_UNDER_WAY = frozenset({"escort", "dropoff", "appointment_at", "allowed_stops", "settings"})
# How long a trip keeps an escort busy when it names no appointment: the ride and the waiting.
DEFAULT_TRIP_SPAN = timedelta(minutes=90)


class StateError(trips.TripError):
    """A change the trip's state does not allow (answered 409, not 400)."""


@dataclass
class Edit:
    """What an edit changed: the fields, and the escorts who lost and gained the trip."""

    changed: list[str] = field(default_factory=list)
    old_escort_id: int | None = None
    new_escort_id: int | None = None

    @property
    def reassigned(self) -> bool:
        """Say whether the escort changed."""
        return self.old_escort_id != self.new_escort_id


def _escort_named(session: Session, name: str) -> User:
    """Return the escort user of this name, or raise TripError."""
    user = session.exec(select(User).where(User.username == name)).first()
    if user is None or user.role != "escort" or not user.is_active:
        raise trips.TripError(f"no escort named {name!r}")
    return user


def _place(place: dict) -> tuple[float, float, float]:
    """Return (lat, lon, radius_m) of a place body, with the default radius."""
    return place["lat"], place["lon"], place.get("radius_m") or trips.DEFAULT_GEOFENCE_RADIUS_M


def edit_trip(session: Session, trip: Trip, changes: dict, user: User, *, now: datetime) -> Edit:
    """Apply ``changes`` (PATCH fields, already shape-checked) to a trip; record them in its timeline and the audit log.

    Refuses (TripError) a field the trip's state does not allow to change; moving the
    pickup or drop-off drops a planned route drawn for the old ends (it would raise false
    deviations), leaving the straight line until a route is planned again.
    """
    if trip.status in trips.TERMINAL:
        raise StateError(f"a {trip.status} trip cannot be changed")
    if trip.status not in PLANNED:
        refused = sorted(set(changes) - EDITABLE_WHILE_UNDER_WAY)
        if refused:
            raise StateError(f"{', '.join(refused)} cannot change once the trip is under way ({trip.status})")
    edit = Edit(old_escort_id=trip.escort_user_id, new_escort_id=trip.escort_user_id)
    if "escort" in changes:
        _reassign(session, trip, changes["escort"], edit)
    pickup_at = changes.get("scheduled_pickup_at", trip.scheduled_pickup_at)
    appointment_at = changes.get("appointment_at", trip.appointment_at)
    if "scheduled_pickup_at" in changes or "appointment_at" in changes:
        trips.check_window(pickup_at, appointment_at, now=now)
        trip.scheduled_pickup_at, trip.appointment_at = pickup_at, appointment_at
    for end in ("pickup", "dropoff"):
        if end in changes:
            lat, lon, radius_m = _place(changes[end])
            setattr(trip, f"{end}_lat", lat)
            setattr(trip, f"{end}_lon", lon)
            setattr(trip, f"{end}_radius_m", radius_m)
            setattr(trip, f"{end}_address", trips.address_words(changes[end]))
            if trip.route:
                trip.route = []
                edit.changed.append("route")
    if "allowed_stops" in changes:
        trip.allowed_stops = [trips.stop_of(p) for p in changes["allowed_stops"]]
    if "settings" in changes:
        merged = {**(trip.settings or {}), **changes["settings"]}
        try:
            trip.settings = validate_settings({k: v for k, v in merged.items() if v is not None})
        except ValueError as exc:
            raise trips.TripError(str(exc)) from None
    edit.changed = sorted(set(changes) - {"escort"} | set(edit.changed) | ({"escort"} if edit.reassigned else set()))
    trip.updated_at = now
    session.add(trip)
    if edit.reassigned:
        names = _names(session, edit.old_escort_id, edit.new_escort_id)
        detail = {"from": names[0], "to": names[1], "by": user.username}
        session.add(TripEvent(trip_id=trip.id, at=now, kind="reassigned", user_id=user.id, detail=detail))
        audit.record(session, user, "trip_reassigned", object_type="trip", object_id=trip.id, detail=detail)
    others = [f for f in edit.changed if f != "escort"]
    if others:
        session.add(TripEvent(trip_id=trip.id, at=now, kind="edited", user_id=user.id,
                              detail={"fields": others, "by": user.username}))
        audit.record(session, user, "trip_edited", object_type="trip", object_id=trip.id, detail={"fields": others})
    return edit


def _reassign(session: Session, trip: Trip, name: str | None, edit: Edit) -> None:
    """Give the trip to another escort (or none while planned); the status follows (assigned / scheduled)."""
    if name is None:
        if trip.status not in PLANNED:
            raise StateError("a trip under way needs an escort: name the one who takes it over")
        trip.escort_user_id, trip.status = None, "scheduled"
    else:
        escort = _escort_named(session, name)
        trip.escort_user_id = escort.id
        if trip.status == "scheduled":
            trip.status = "assigned"
    if trip.escort_user_id != edit.old_escort_id:
        # The old escort's device no longer reports for this trip; the new escort's devices do
        # (a trip is matched by its device or by the escort who carries one).
        trip.device_id = None
    edit.new_escort_id = trip.escort_user_id


def _names(session: Session, *user_ids: int | None) -> list[str | None]:
    """Return the usernames of these user ids (None for None)."""
    return [session.get(User, uid).username if uid else None for uid in user_ids]


def duplicate_trip(session: Session, source: Trip, user: User, *, now: datetime,
                   scheduled_pickup_at: datetime | None = None, appointment_at: datetime | None = None,
                   escort: str | None = None) -> Trip:
    """Create a copy of a trip (same patient, places, route and settings), unassigned unless an escort is named.

    Times default to the source's; an appointment moves with a new pickup time.
    """
    pickup_at = scheduled_pickup_at or source.scheduled_pickup_at
    if appointment_at is None and source.appointment_at is not None:
        appointment_at = pickup_at + (source.appointment_at - source.scheduled_pickup_at)
    copy = trips.create_trip(
        session, patient_id=source.patient_id, escort=escort, device_id=None,
        pickup={"lat": source.pickup_lat, "lon": source.pickup_lon, "radius_m": source.pickup_radius_m,
                "address": source.pickup_address},
        dropoff={"lat": source.dropoff_lat, "lon": source.dropoff_lon, "radius_m": source.dropoff_radius_m,
                 "address": source.dropoff_address},
        route=list(source.route or []), settings=dict(source.settings or {}),
        allowed_stops=list(source.allowed_stops or []),
        scheduled_pickup_at=pickup_at, appointment_at=appointment_at, user=user, now=now,
    )
    session.add(TripEvent(trip_id=copy.id, at=now, kind="duplicated", user_id=user.id,
                          detail={"from_trip": source.id, "by": user.username}))
    audit.record(session, user, "trip_duplicated", object_type="trip", object_id=copy.id,
                 detail={"from_trip": source.id})
    return copy


def busy_escorts(session: Session, start: datetime, end: datetime, *, except_trip: int | None = None) -> dict[int, Trip]:
    """Return escorts (by user id) with a trip that is not over overlapping [start, end], and that trip."""
    query = select(Trip).where(
        Trip.escort_user_id.is_not(None), Trip.status.not_in(trips.TERMINAL),
        Trip.scheduled_pickup_at < end, Trip.scheduled_pickup_at > start - timedelta(hours=24),
    )
    if except_trip is not None:
        query = query.where(Trip.id != except_trip)
    busy: dict[int, Trip] = {}
    for trip in session.exec(query.order_by(Trip.scheduled_pickup_at)).all():
        trip_end = trip.appointment_at or trip.scheduled_pickup_at + DEFAULT_TRIP_SPAN
        if trip_end > start:
            busy.setdefault(trip.escort_user_id, trip)
    return busy


def escort_choices(session: Session, start: datetime, end: datetime | None = None, *,
                   except_trip: int | None = None) -> list[dict]:
    """Return every active escort with whether they are free over [start, end], free ones first."""
    end = end or start + DEFAULT_TRIP_SPAN
    busy = busy_escorts(session, start, end, except_trip=except_trip)
    escorts = session.exec(select(User).where(User.role == "escort").order_by(User.username)).all()
    rows = [{"username": u.username, "free": u.id not in busy,
             "busy_with": busy[u.id].id if u.id in busy else None}
            for u in escorts if u.is_active]
    return sorted(rows, key=lambda r: (not r["free"], r["username"]))
