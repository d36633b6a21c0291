"""Standing orders: a repeating trip whose trips are made ahead, date by date, each skippable or editable alone."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from sqlmodel import Session, select

from app import audit
from app.models import User
from dispatch import trips
from dispatch.models import StandingOrder, StandingOrderDate, Trip, TripEvent

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DAY_WORDS = dict(zip(DAYS, ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")))
# Trips exist this far ahead: far enough to plan escorts' weeks, near enough that a change to
# the order reaches few already-made trips. The sweep (and `escort standing-orders top-up`) keeps it.
HORIZON_DAYS = 28
MAX_SPAN_DAYS = 366
NOT_STARTED = frozenset({"scheduled", "assigned"})


class StandingError(ValueError):
    """A standing-order request that cannot be done; the message says why."""


class StandingStateError(StandingError):
    """A date whose trip has started or ended cannot be skipped (answered 409)."""


def parse_hhmm(value: str, name: str) -> time:
    """Return a ``HH:MM`` wall-clock time, or raise StandingError naming the field."""
    try:
        parsed = time.fromisoformat(value)
    except (TypeError, ValueError):
        parsed = None
    if parsed is None or len(value) != 5:
        raise StandingError(f"{name} must be a time HH:MM, like 09:30")
    return parsed


def occurs_on(order: StandingOrder, day: date) -> bool:
    """Say whether the order has a trip on this date (its weekday, within its dates)."""
    return order.starts_on <= day <= order.ends_on and DAYS[day.weekday()] in order.days


def dates_between(order: StandingOrder, first: date, last: date) -> list[date]:
    """Return the order's dates from first to last, inclusive."""
    day, found = max(first, order.starts_on), []
    while day <= min(last, order.ends_on):
        if occurs_on(order, day):
            found.append(day)
        day += timedelta(days=1)
    return found


def at_local(day: date, hhmm: str | None, tz: str) -> datetime | None:
    """Return the UTC time of a local wall-clock time on a day."""
    if not hhmm:
        return None
    return datetime.combine(day, time.fromisoformat(hhmm), tzinfo=ZoneInfo(tz)).astimezone(timezone.utc)


def create(session: Session, *, patient_id: int, escort: str | None, pickup: dict, dropoff: dict, route: list,
           allowed_stops: list, settings: dict, pickup_time: str, appointment_time: str | None, days: list[str],
           starts_on: date, ends_on: date, tz: str, user: User, now: datetime) -> tuple[StandingOrder, list[Trip]]:
    """Make a standing order and its trips up to the horizon; refuse bad days, dates or times."""
    pickup_at = parse_hhmm(pickup_time, "pickup_time")
    if appointment_time is not None and parse_hhmm(appointment_time, "appointment_time") < pickup_at:
        raise StandingError("appointment_time must be after pickup_time")
    unknown = [d for d in days if d not in DAYS]
    if not days or unknown:
        raise StandingError(f"days must name at least one of {', '.join(DAYS)}" +
                            (f" (not {', '.join(map(str, unknown))})" if unknown else ""))
    today = now.astimezone(ZoneInfo(tz)).date()
    if ends_on < starts_on:
        raise StandingError("ends_on must not be before starts_on")
    if (ends_on - starts_on).days > MAX_SPAN_DAYS:
        raise StandingError(f"a standing order spans at most {MAX_SPAN_DAYS} days; make another for later")
    if ends_on < today:
        raise StandingError("ends_on is in the past: the order would make no trips")
    escort_id = None
    if escort:
        found = session.exec(select(User).where(User.username == escort)).first()
        if found is None or found.role != "escort" or not found.is_active:
            raise StandingError(f"no escort named {escort!r}")
        escort_id = found.id
    order = StandingOrder(
        patient_id=patient_id, escort_user_id=escort_id,
        pickup_lat=pickup["lat"], pickup_lon=pickup["lon"],
        pickup_radius_m=pickup.get("radius_m") or trips.DEFAULT_GEOFENCE_RADIUS_M,
        dropoff_lat=dropoff["lat"], dropoff_lon=dropoff["lon"],
        dropoff_radius_m=dropoff.get("radius_m") or trips.DEFAULT_GEOFENCE_RADIUS_M,
        pickup_address=trips.address_words(pickup), dropoff_address=trips.address_words(dropoff),
        route=route, allowed_stops=[trips.stop_of(p) for p in allowed_stops], settings=settings, pickup_time=pickup_time,
        appointment_time=appointment_time, tz=tz, days=[d for d in DAYS if d in days],
        starts_on=starts_on, ends_on=ends_on, created_by_id=user.id, created_at=now, updated_at=now,
    )
    session.add(order)
    session.flush()
    made = fill(session, order, user=user, now=now)
    audit.record(session, user, "standing_order_created", object_type="standing_order", object_id=order.id,
                 detail={"days": order.days, "starts_on": starts_on.isoformat(), "ends_on": ends_on.isoformat()})
    return order, made


def fill(session: Session, order: StandingOrder, *, user: User | None, now: datetime) -> list[Trip]:
    """Make the order's missing trips from today to the horizon (dates already made or skipped are left alone)."""
    today = now.astimezone(ZoneInfo(order.tz)).date()
    last = min(order.ends_on, today + timedelta(days=HORIZON_DAYS))
    known = set(session.exec(select(StandingOrderDate.on_date).where(StandingOrderDate.order_id == order.id)).all())
    escort = session.get(User, order.escort_user_id) if order.escort_user_id else None
    author = user or session.get(User, order.created_by_id)
    made = []
    for day in dates_between(order, today, last):
        pickup_at = at_local(day, order.pickup_time, order.tz)
        if day in known or pickup_at < now:
            continue
        trip = trips.create_trip(
            session, patient_id=order.patient_id,
            escort=escort.username if escort is not None and escort.is_active else None, device_id=None,
            pickup={"lat": order.pickup_lat, "lon": order.pickup_lon, "radius_m": order.pickup_radius_m,
                    "address": order.pickup_address},
            dropoff={"lat": order.dropoff_lat, "lon": order.dropoff_lon, "radius_m": order.dropoff_radius_m,
                     "address": order.dropoff_address},
            route=list(order.route or []), settings=dict(order.settings or {}),
            allowed_stops=list(order.allowed_stops or []), scheduled_pickup_at=pickup_at,
            appointment_at=at_local(day, order.appointment_time, order.tz), user=author, now=now,
        )
        session.add(TripEvent(trip_id=trip.id, at=now, kind="standing_order", detail={"order_id": order.id,
                                                                                      "date": day.isoformat()}))
        session.add(StandingOrderDate(order_id=order.id, on_date=day, trip_id=trip.id))
        made.append(trip)
    order.filled_until = max(last, order.filled_until or last)
    session.add(order)
    session.flush()
    return made


def top_up(session: Session, *, now: datetime) -> list[Trip]:
    """Make the trips every active order lacks up to the horizon; cheap when all are filled (a sweep step)."""
    made = []
    for order in session.exec(select(StandingOrder).where(StandingOrder.active.is_(True))).all():
        today = now.astimezone(ZoneInfo(order.tz)).date()
        if order.filled_until is None or order.filled_until < min(order.ends_on, today + timedelta(days=HORIZON_DAYS)):
            made.extend(fill(session, order, user=None, now=now))
    return made


def skip(session: Session, order: StandingOrder, day: date, user: User, *, now: datetime) -> Trip | None:
    """Skip one date: its trip (if made) is cancelled, a date ahead is never made; the other dates are untouched."""
    if not occurs_on(order, day):
        raise StandingError(f"{day.isoformat()} is not one of this order's dates "
                            f"({', '.join(DAY_WORDS[d] for d in order.days)}, {order.starts_on} to {order.ends_on})")
    row = session.exec(select(StandingOrderDate).where(StandingOrderDate.order_id == order.id,
                                                       StandingOrderDate.on_date == day)).first()
    trip = session.get(Trip, row.trip_id) if row is not None and row.trip_id else None
    if trip is not None and trip.status not in NOT_STARTED and trip.status != "cancelled":
        raise StandingStateError(f"the trip of {day.isoformat()} (trip {trip.id}) is {trip.status.replace('_', ' ')}:"
                                 " it can no longer be skipped")
    if row is None:
        row = StandingOrderDate(order_id=order.id, on_date=day)
    if not row.skipped:
        row.skipped = True
        if trip is not None and trip.status != "cancelled":
            trips.change_status(session, trip, "cancelled", user, now=now,
                                reason=f"date skipped on standing order {order.id}")
        audit.record(session, user, "standing_order_skip", object_type="standing_order", object_id=order.id,
                     detail={"date": day.isoformat(), "trip_id": trip.id if trip else None})
    session.add(row)
    return trip


def end(session: Session, order: StandingOrder, user: User, *, now: datetime) -> list[Trip]:
    """End an order: no more trips are made, and its trips not yet started are cancelled."""
    order.active, order.updated_at = False, now
    session.add(order)
    cancelled = []
    rows = session.exec(select(StandingOrderDate).where(StandingOrderDate.order_id == order.id,
                                                        StandingOrderDate.trip_id.is_not(None))).all()
    for row in rows:
        trip = session.get(Trip, row.trip_id)
        if trip is not None and trip.status in NOT_STARTED and trip.scheduled_pickup_at > now:
            trips.change_status(session, trip, "cancelled", user, now=now, reason=f"standing order {order.id} ended")
            cancelled.append(trip)
    audit.record(session, user, "standing_order_ended", object_type="standing_order", object_id=order.id,
                 detail={"cancelled": [t.id for t in cancelled]})
    return cancelled


def public(session: Session, order: StandingOrder) -> dict:
    """Return the order as the API shows it, with each made or skipped date."""
    rows = session.exec(select(StandingOrderDate).where(StandingOrderDate.order_id == order.id)
                        .order_by(StandingOrderDate.on_date)).all()
    escort = session.get(User, order.escort_user_id) if order.escort_user_id else None
    return {
        "id": order.id, "patient_id": order.patient_id, "escort": escort.username if escort else None,
        "pickup": {"lat": order.pickup_lat, "lon": order.pickup_lon, "radius_m": order.pickup_radius_m,
                   "address": order.pickup_address},
        "dropoff": {"lat": order.dropoff_lat, "lon": order.dropoff_lon, "radius_m": order.dropoff_radius_m,
                    "address": order.dropoff_address},
        "allowed_stops": order.allowed_stops or [], "pickup_time": order.pickup_time, "appointment_time": order.appointment_time, "time_zone": order.tz,
        "days": order.days, "starts_on": order.starts_on.isoformat(), "ends_on": order.ends_on.isoformat(),
        "active": order.active, "filled_until": order.filled_until.isoformat() if order.filled_until else None,
        "trips": [r.trip_id for r in rows if r.trip_id and not r.skipped],
        "dates": [{"date": r.on_date.isoformat(), "trip_id": r.trip_id, "skipped": r.skipped} for r in rows],
    }
