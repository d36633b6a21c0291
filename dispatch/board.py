"""The day's board: a local day's trips grouped by state, with their open alerts and lateness."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import Session, select

from app.models import User
from app.times import iso_z
from dispatch import alerts as alerts_mod
from dispatch import arrival, present
from dispatch import trips as trips_mod
from dispatch.models import Alert, Trip
from patients.models import Patient

# The board's groups, in the order a dispatcher reads them, and the statuses in each.
GROUPS: tuple[tuple[str, str, frozenset[str]], ...] = (
    ("unassigned", "Unassigned", frozenset({"scheduled"})),
    ("assigned", "Assigned", frozenset({"assigned"})),
    ("under_way", "Under way", frozenset({"en_route_pickup", "arrived_pickup", "on_board", "arrived_dropoff"})),
    ("done", "Done", frozenset({"completed"})),
    ("exceptions", "Exceptions", frozenset({"no_show", "cancelled", "incident"})),
)
GROUP_OF = {status: key for key, _, statuses in GROUPS for status in statuses}
# Statuses in a dispatcher's words (the tablet's labels are the escort's next actions).
STATUS_WORDS = {
    "scheduled": "Unassigned", "assigned": "Assigned", "en_route_pickup": "Driving to pickup",
    "arrived_pickup": "At pickup", "on_board": "Patient on board", "arrived_dropoff": "At drop-off",
    "completed": "Completed", "no_show": "No-show", "cancelled": "Cancelled", "incident": "Incident",
}
# A trip still waiting to start this long after its pickup time is late (the driving takes longer).
NOT_STARTED = frozenset({"scheduled", "assigned"})


class BoardError(ValueError):
    """A board request that cannot be answered (an unreadable date)."""


def parse_day(raw: str | None, *, today: date) -> date:
    """Return the day a ``YYYY-MM-DD`` parameter names (today when absent), or raise BoardError."""
    if not raw:
        return today
    try:
        day = date.fromisoformat(raw)
    except ValueError:
        raise BoardError(f"date must be YYYY-MM-DD, not {raw[:20]!r}") from None
    if not 2000 <= day.year <= 2200:
        raise BoardError("date must lie between the years 2000 and 2200")
    return day


def day_bounds(day: date, tz: str) -> tuple[datetime, datetime]:
    """Return the UTC start and end of a local calendar day."""
    zone = ZoneInfo(tz)
    start = datetime.combine(day, time(0), tzinfo=zone)
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone)
    return start.astimezone(ZoneInfo("UTC")), end.astimezone(ZoneInfo("UTC"))


def lateness_s(trip: dict, *, now: datetime) -> float | None:
    """Return how late a board row is in seconds (positive late), from the ETA when known, else the planned times.

    With ``eta_at`` (the ETA work) the lateness is the ETA past the appointment (or the pickup
    while driving to it); before that, a trip not started is late by how far now is past its pickup time.
    """
    eta = _time(trip.get("eta_at"))
    pickup = _time(trip["scheduled_pickup_at"])
    appointment = _time(trip.get("appointment_at"))
    if eta is not None:
        target = pickup if trip["status"] == "en_route_pickup" else appointment
        return (eta - target).total_seconds() if target else None
    if trip["status"] in NOT_STARTED:
        return (now - pickup).total_seconds()
    return None


def _time(value: str | None) -> datetime | None:
    """Parse an ISO time of the trip JSON."""
    return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


def row(trip: Trip, *, patient_name: str | None, escort: str | None, alerts: list[dict]) -> dict:
    """Return one board row as the page and its script show it."""
    return {
        "id": trip.id, "status": trip.status, "status_words": STATUS_WORDS[trip.status],
        "group": GROUP_OF[trip.status], "patient_id": trip.patient_id, "patient_name": patient_name,
        "escort": escort, "scheduled_pickup_at": iso_z(trip.scheduled_pickup_at),
        "appointment_at": iso_z(trip.appointment_at), "alerts": alerts, "places": trips_mod.from_to(trip),
    }


def day_rows(session: Session, day: date, *, tz: str, user: User, now: datetime | None = None) -> list[dict]:
    """Return the rows of the trips whose pickup falls on the local day, by pickup time.

    With ``now``, a trip under way carries its live ETA (``eta_at``, ``left_m``), as the live
    updates do: the first render says the same as the next update.
    """
    start, end = day_bounds(day, tz)
    trips = session.exec(select(Trip).where(Trip.scheduled_pickup_at >= start, Trip.scheduled_pickup_at < end)
                         .order_by(Trip.scheduled_pickup_at, Trip.id)).all()
    ids = [t.id for t in trips]
    patients = dict(session.exec(select(Patient.id, Patient.name)
                                 .where(Patient.id.in_({t.patient_id for t in trips}))).all()) if trips else {}
    escorts = dict(session.exec(select(User.id, User.username)
                                .where(User.id.in_({t.escort_user_id for t in trips if t.escort_user_id}))).all())
    open_by_trip: dict[int, list[dict]] = {}
    if ids:
        query = select(Alert).where(Alert.trip_id.in_(ids), Alert.resolved_at.is_(None), alerts_mod.known_to(user))
        for alert in session.exec(query.order_by(Alert.raised_at)).all():
            open_by_trip.setdefault(alert.trip_id, []).append(
                {"id": alert.id, "kind": alert.kind, **alerts_mod.escalation_of(alert)})
    rows = [row(t, patient_name=patients.get(t.patient_id), escort=escorts.get(t.escort_user_id),
                alerts=open_by_trip.get(t.id, [])) for t in trips]
    if now is not None:
        for r, t in zip(rows, trips):
            if t.status in arrival.TO_PICKUP | arrival.TO_DROPOFF:
                found = arrival.estimate(session, t, now=now, last_fix=present.last_fix(session, t))
                r.update({k: v for k, v in arrival.public(found).items() if k in ("eta_at", "left_m", "eta_source")})
    return rows


def grouped(rows: list[dict]) -> list[dict]:
    """Return the board's groups, each with its rows (empty groups kept: the page shows them as empty)."""
    return [{"key": key, "title": title, "rows": [r for r in rows if r["group"] == key]} for key, title, _ in GROUPS]
