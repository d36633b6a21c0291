"""The trip lifecycle: allowed status transitions, creation, and the trip as the map sees it."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlmodel import Session, or_, select

from app.models import User
from dispatch.models import Trip, TripEvent
from patients.models import Patient
from tracking.models import Device

STATUSES = (
    "scheduled", "assigned", "en_route_pickup", "arrived_pickup", "on_board",
    "arrived_dropoff", "completed", "no_show", "cancelled", "incident",
)
# Under way: fixes from the trip's device belong to it and detection runs.
ACTIVE = frozenset({"en_route_pickup", "arrived_pickup", "on_board", "arrived_dropoff", "incident"})
# Shown on the live map: under way, or about to be.
LIVE = ACTIVE | {"assigned"}
TERMINAL = frozenset({"completed", "no_show", "cancelled"})

TRANSITIONS: dict[str, tuple[str, ...]] = {
    "scheduled": ("assigned", "cancelled"),
    "assigned": ("en_route_pickup", "scheduled", "cancelled"),
    "en_route_pickup": ("arrived_pickup", "cancelled", "incident"),
    "arrived_pickup": ("on_board", "no_show", "cancelled", "incident"),
    "on_board": ("arrived_dropoff", "incident"),
    "arrived_dropoff": ("completed", "incident"),
    # After an incident the trip carries on, or ends.
    "incident": ("en_route_pickup", "on_board", "completed", "cancelled"),
    "completed": (),
    "no_show": (),
    "cancelled": (),
}
# What an escort's tablet may do; the rest (re-planning, cancelling on board) is the dispatcher's.
ESCORT_ALLOWED = frozenset(
    {"en_route_pickup", "arrived_pickup", "on_board", "arrived_dropoff", "completed", "no_show", "incident", "cancelled"}
)
STATUS_LABELS = {
    "scheduled": "Scheduled",
    "assigned": "Assigned",
    "en_route_pickup": "On my way to pickup",
    "arrived_pickup": "Arrived at pickup",
    "on_board": "Patient on board",
    "arrived_dropoff": "Arrived at drop-off",
    "completed": "Trip completed",
    "no_show": "Patient not there",
    "cancelled": "Cancel trip",
    "incident": "Report incident",
}
DEFAULT_GEOFENCE_RADIUS_M = 75.0
# How far from now a pickup may be planned: trips are booked weeks ahead and recorded
# afterwards for a while, never decades either way (and every window derived from a trip,
# medication doses among them, stays as bounded as the trip itself).
PICKUP_PAST_LIMIT = timedelta(days=366)
PICKUP_FUTURE_LIMIT = timedelta(days=2 * 366)
# An appointment lies after its pickup, within a day of it.
APPOINTMENT_AFTER_PICKUP_LIMIT = timedelta(hours=24)


class TripError(ValueError):
    """A trip request that cannot be done; the message says why."""


def allowed_next(trip: Trip, role: str) -> list[str]:
    """Return the statuses this role may move the trip to next."""
    nexts = TRANSITIONS[trip.status]
    if role == "escort":
        return [s for s in nexts if s in ESCORT_ALLOWED]
    return list(nexts)


def change_status(session: Session, trip: Trip, new_status: str, user: User, *, now: datetime,
                  lat: float | None = None, lon: float | None = None, reason: str | None = None) -> Trip:
    """Move a trip to a new status if the lifecycle and the user's role allow it."""
    if new_status not in STATUSES:
        raise TripError(f"unknown status {new_status!r}; one of {', '.join(STATUSES)}")
    if new_status not in allowed_next(trip, user.role):
        raise TripError(f"cannot go from {trip.status} to {new_status}")
    old = trip.status
    trip.status = new_status
    trip.updated_at = now
    if new_status in ACTIVE and trip.started_at is None:
        trip.started_at = now
    if new_status in TERMINAL:
        trip.ended_at = now
    detail = {"from": old, "to": new_status, "by": user.username}
    if lat is not None and lon is not None:
        detail.update(lat=lat, lon=lon)
    if reason:
        detail["reason"] = reason
    session.add(TripEvent(trip_id=trip.id, at=now, kind="status", user_id=user.id, detail=detail))
    session.add(trip)
    return trip


def check_window(scheduled_pickup_at: datetime, appointment_at: datetime | None, *, now: datetime) -> None:
    """Refuse a pickup far from now, or an appointment before its pickup or more than a day after it."""
    if not now - PICKUP_PAST_LIMIT <= scheduled_pickup_at <= now + PICKUP_FUTURE_LIMIT:
        raise TripError(f"scheduled_pickup_at must lie within {PICKUP_PAST_LIMIT.days} days before now "
                        f"and {PICKUP_FUTURE_LIMIT.days} days after it")
    if appointment_at is not None and not (
            scheduled_pickup_at <= appointment_at <= scheduled_pickup_at + APPOINTMENT_AFTER_PICKUP_LIMIT):
        hours = APPOINTMENT_AFTER_PICKUP_LIMIT.total_seconds() / 3600
        raise TripError(f"appointment_at must lie after scheduled_pickup_at, within {hours:.0f} hours of it")


def address_words(place: dict) -> str | None:
    """Return a place's address in words, trimmed to what a trip keeps, or None."""
    words = " ".join(str(place.get("address") or "").split())
    return words[:300] or None


def place_words(address: str | None, lat: float, lon: float) -> str:
    """Return a place in words: its address, or its coordinates when none is known."""
    return address or f"{lat:.5f}, {lon:.5f}"


def from_to(item) -> str:
    """Return "From <pickup> to <drop-off>" of a trip or a standing order, in words where known."""
    return (f"From {place_words(item.pickup_address, item.pickup_lat, item.pickup_lon)} "
            f"to {place_words(item.dropoff_address, item.dropoff_lat, item.dropoff_lon)}")


def stop_of(place: dict) -> dict:
    """Return an allowed stop as a trip keeps it: lat, lon, radius (default) and its address in words when known."""
    stop = {"lat": place["lat"], "lon": place["lon"], "radius_m": place.get("radius_m") or DEFAULT_GEOFENCE_RADIUS_M}
    words = address_words(place)
    if words:
        stop["address"] = words
    return stop


def create_trip(session: Session, *, patient_id: int, escort: str | None, device_id: int | None,
                pickup: dict, dropoff: dict, route: list, settings: dict, allowed_stops: list | None = None,
                scheduled_pickup_at: datetime, appointment_at: datetime | None,
                user: User, now: datetime) -> Trip:
    """Create a trip; with an escort named it starts as ``assigned``."""
    check_window(scheduled_pickup_at, appointment_at, now=now)
    if session.get(Patient, patient_id) is None:
        raise TripError(f"no patient with id {patient_id}")
    escort_user = None
    if escort:
        escort_user = session.exec(select(User).where(User.username == escort)).first()
        if escort_user is None or escort_user.role != "escort":
            raise TripError(f"no escort named {escort!r}")
    if device_id is not None and session.get(Device, device_id) is None:
        raise TripError(f"no device with id {device_id}")
    trip = Trip(
        patient_id=patient_id,
        escort_user_id=escort_user.id if escort_user else None,
        device_id=device_id,
        status="assigned" if escort_user else "scheduled",
        pickup_lat=pickup["lat"], pickup_lon=pickup["lon"],
        pickup_radius_m=pickup.get("radius_m") or DEFAULT_GEOFENCE_RADIUS_M,
        dropoff_lat=dropoff["lat"], dropoff_lon=dropoff["lon"],
        dropoff_radius_m=dropoff.get("radius_m") or DEFAULT_GEOFENCE_RADIUS_M,
        pickup_address=address_words(pickup), dropoff_address=address_words(dropoff),
        route=route, settings=settings,
        allowed_stops=[stop_of(p) for p in allowed_stops or []],
        scheduled_pickup_at=scheduled_pickup_at, appointment_at=appointment_at,
        created_at=now, updated_at=now,
    )
    session.add(trip)
    session.flush()
    session.add(TripEvent(trip_id=trip.id, at=now, kind="created", user_id=user.id,
                          detail={"by": user.username, "status": trip.status}))
    return trip


def _device_clauses(device: Device) -> list:
    """Match trips of this device, or of the escort who carries it (their tablet or phone)."""
    clauses = [Trip.device_id == device.id]
    if device.escort_user_id is not None:
        clauses.append(Trip.escort_user_id == device.escort_user_id)
    return clauses


def active_trip_for_device(session: Session, device: Device) -> Trip | None:
    """Return the trip under way that this device reports for, if any."""
    clauses = _device_clauses(device)
    return session.exec(
        select(Trip).where(Trip.status.in_(ACTIVE), or_(*clauses)).order_by(Trip.started_at.desc())
    ).first()


def backlog_candidates(session: Session, devices: list, start: datetime, end: datetime) -> list:
    """Return the ended trips of these devices (or their escorts) whose windows meet [start, end]: one query.

    Rows of (id, device_id, escort_user_id, started_at, ended_at), oldest trip first; pick
    each late fix's trip from them with ``backlog_trip``.
    """
    ids = sorted({d.id for d in devices})
    escorts = sorted({d.escort_user_id for d in devices if d.escort_user_id is not None})
    mine = Trip.device_id.in_(ids)
    if escorts:
        mine = or_(mine, Trip.escort_user_id.in_(escorts))
    return list(session.exec(
        select(Trip.id, Trip.device_id, Trip.escort_user_id, Trip.started_at, Trip.ended_at).where(
            mine, Trip.started_at.is_not(None), Trip.started_at <= end,
            Trip.ended_at.is_not(None), Trip.ended_at >= start,
        ).order_by(Trip.id)
    ).all())


def backlog_trip(candidates: list, device, ts: datetime) -> int | None:
    """Return the id of the ended trip whose window holds a late fix from this device, or None."""
    for row in candidates:
        if (row.device_id == device.id or (device.escort_user_id is not None
                                           and row.escort_user_id == device.escort_user_id)) \
                and row.started_at <= ts <= row.ended_at:
            return row.id
    return None


def current_trip_for_escort(session: Session, user: User) -> Trip | None:
    """Return the escort's trip under way, else their next assigned one."""
    trips = session.exec(
        select(Trip).where(Trip.escort_user_id == user.id, Trip.status.in_(LIVE))
        .order_by(Trip.scheduled_pickup_at)
    ).all()
    active = [t for t in trips if t.status in ACTIVE]
    return (active or trips or [None])[0]


def live_trips(session: Session) -> list[Trip]:
    """Return the trips the live map shows."""
    return list(session.exec(select(Trip).where(Trip.status.in_(LIVE)).order_by(Trip.id)).all())
