"""Trip log queries: the filtered, keyset-paged trip list, a trip's timeline, replay data and figures.

Every query here takes the user and keeps to what ``dispatch.access`` lets them see; the
patient is named only where ``access.sheet_view`` allows.
"""

from __future__ import annotations

import base64
import binascii
from bisect import bisect_right
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from sqlalchemy import exists, func, tuple_
from sqlmodel import Session, select

from app.models import User
from app.times import iso_z
from dispatch import access
from dispatch import alerts as alerts_mod
from dispatch import figures
from dispatch.models import Alert, Trip, TripEvent
from dispatch.settings import detection_settings
from dispatch.trips import STATUSES
from patients.models import Patient
from tracking.fix import Fix
from tracking.models import FixRow

PAGE_SIZE = 50
MAX_PAGE_SIZE = 200
MAX_PERIOD_DAYS = 366
MAX_PERIOD_TRIPS = 20_000
NOTE_MAX_CHARS = 2000
MAX_ID = 2**31 - 1  # ids are 32-bit integers on PostgreSQL
# A status change without its own position is placed at the last fix this recent before it.
POSITION_FROM_TRACK_S = 120.0


class LogError(ValueError):
    """A trip log request that cannot be answered; the message says why."""


@dataclass(frozen=True)
class Filters:
    """What the trip list is narrowed to; dates are UTC instants, ``date_to`` exclusive."""

    date_from: datetime | None = None
    date_to: datetime | None = None
    patient_id: int | None = None
    escort: str | None = None
    status: str | None = None
    had_alerts: bool | None = None

    def as_args(self, tz: str) -> dict:
        """Return the filters as query arguments (dates as local calendar days), for links."""
        zone = ZoneInfo(tz)
        out = {}
        if self.date_from:
            out["from"] = self.date_from.astimezone(zone).date().isoformat()
        if self.date_to:
            out["to"] = (self.date_to.astimezone(zone) - timedelta(days=1)).date().isoformat()
        for key, value in (("patient_id", self.patient_id), ("escort", self.escort), ("status", self.status)):
            if value is not None:
                out[key] = str(value)
        if self.had_alerts is not None:
            out["had_alerts"] = "1" if self.had_alerts else "0"
        return out


def _day(value: str, name: str, tz: str) -> datetime:
    """Return the start of a local calendar day ``YYYY-MM-DD`` as a UTC instant."""
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise LogError(f"{name} must be a date as YYYY-MM-DD, got {value[:40]!r}") from None
    if not 2000 <= day.year <= 2200:
        raise LogError(f"{name} must be a date between the years 2000 and 2200")
    return datetime.combine(day, time(0), ZoneInfo(tz)).astimezone(timezone.utc)


def parse_filters(args, *, tz: str = "UTC") -> Filters:
    """Read filters from query arguments: from, to (local days, inclusive), patient_id, escort, status, had_alerts."""
    get = lambda key: (args.get(key) or "").strip()  # noqa: E731
    date_from = _day(get("from"), "from", tz) if get("from") else None
    date_to = _day(get("to"), "to", tz) + timedelta(days=1) if get("to") else None
    if date_from and date_to and date_to <= date_from:
        raise LogError("to must not be before from")
    patient_id = None
    if get("patient_id"):
        if not (get("patient_id").isascii() and get("patient_id").isdigit()) or not 0 < int(get("patient_id")) <= MAX_ID:
            raise LogError(f"patient_id must be a whole number from 1 to {MAX_ID}")
        patient_id = int(get("patient_id"))
    status = get("status") or None
    if status is not None and status not in STATUSES:
        raise LogError(f"status must be one of {', '.join(STATUSES)}")
    had = get("had_alerts")
    if had not in ("", "0", "1", "true", "false", "yes", "no"):
        raise LogError("had_alerts must be 1 or 0")
    had_alerts = None if had == "" else had in ("1", "true", "yes")
    escort = get("escort")[:80] or None
    return Filters(date_from, date_to, patient_id, escort, status, had_alerts)


def encode_cursor(scheduled_at: datetime, trip_id: int) -> str:
    """Return an opaque cursor for the row after which the next page starts."""
    raw = f"{scheduled_at.astimezone(timezone.utc).isoformat()}|{trip_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, int]:
    """Read a cursor made by ``encode_cursor``; raise LogError for anything else."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        when, _, trip_id = raw.partition("|")
        at = datetime.fromisoformat(when)
        if at.tzinfo is None or not (trip_id.isascii() and trip_id.isdigit()) or int(trip_id) > MAX_ID:
            raise ValueError
        return at.astimezone(timezone.utc), int(trip_id)
    except (ValueError, OverflowError, binascii.Error, UnicodeDecodeError):  # OverflowError: beyond UTC's range
        raise LogError("after is not a cursor this server gave out") from None


def _filtered(query, session: Session, user: User, filters: Filters):
    """Apply the access rule and the filters to a query over Trip."""
    query = query.where(access.trip_filter(user))
    if filters.date_from is not None:
        query = query.where(Trip.scheduled_pickup_at >= filters.date_from)
    if filters.date_to is not None:
        query = query.where(Trip.scheduled_pickup_at < filters.date_to)
    if filters.patient_id is not None:
        query = query.where(Trip.patient_id == filters.patient_id)
    if filters.escort is not None:
        escort_id = session.exec(select(User.id).where(User.username == filters.escort)).first()
        query = query.where(Trip.escort_user_id == (escort_id if escort_id is not None else -1))
    if filters.status is not None:
        query = query.where(Trip.status == filters.status)
    if filters.had_alerts is not None:
        has = exists().where(Alert.trip_id == Trip.id, alerts_mod.known_to(user))
        query = query.where(has if filters.had_alerts else ~has)
    return query


def list_trips(session: Session, user: User, filters: Filters, *, after: str | None = None,
               limit: int = PAGE_SIZE, now: datetime) -> tuple[list[dict], str | None]:
    """Return a page of trips, latest scheduled first, and the cursor of the next page (or None)."""
    limit = max(1, min(limit, MAX_PAGE_SIZE))
    query = _filtered(select(Trip), session, user, filters)
    if after:
        at, trip_id = decode_cursor(after)
        query = query.where(tuple_(Trip.scheduled_pickup_at, Trip.id) < tuple_(at, trip_id))
    query = query.order_by(Trip.scheduled_pickup_at.desc(), Trip.id.desc()).limit(limit + 1)
    rows = list(session.exec(query).all())
    more = len(rows) > limit
    rows = rows[:limit]
    return rows_public(session, user, rows, now=now), (
        encode_cursor(rows[-1].scheduled_pickup_at, rows[-1].id) if more else None)


def rows_public(session: Session, user: User, trips: list[Trip], *, now: datetime) -> list[dict]:
    """Return list rows for trips: times, escort, alert counts, and the patient where allowed."""
    ids = [t.id for t in trips]
    if not ids:
        return []
    known = alerts_mod.known_to(user)
    counts = dict(session.exec(select(Alert.trip_id, func.count(Alert.id)).where(Alert.trip_id.in_(ids), known)
                               .group_by(Alert.trip_id)).all())
    open_counts = dict(session.exec(select(Alert.trip_id, func.count(Alert.id))
                                    .where(Alert.trip_id.in_(ids), Alert.resolved_at.is_(None), known)
                                    .group_by(Alert.trip_id)).all())
    escort_ids = {t.escort_user_id for t in trips if t.escort_user_id}
    names = dict(session.exec(select(User.id, User.username).where(User.id.in_(escort_ids))).all()) if escort_ids else {}
    shown = visible_patients(session, user, trips, now=now)
    out = []
    for t in trips:
        patient = shown.get(t.id)
        out.append({
            "id": t.id, "status": t.status, "scheduled_pickup_at": iso_z(t.scheduled_pickup_at),
            "appointment_at": iso_z(t.appointment_at), "started_at": iso_z(t.started_at),
            "ended_at": iso_z(t.ended_at), "escort": names.get(t.escort_user_id),
            "patient_id": patient.id if patient else None, "patient_name": patient.name if patient else None,
            "alert_count": counts.get(t.id, 0), "open_alert_count": open_counts.get(t.id, 0),
        })
    return out


@dataclass(frozen=True)
class PatientRef:
    """What the log shows of a patient (id and name), and what the access rule reads."""

    id: int
    name: str
    coordinator_user_id: int | None


def visible_patients(session: Session, user: User, trips: list[Trip], *, now: datetime) -> dict[int, PatientRef]:
    """Return {trip id: patient} for the trips whose patient ``user`` may see (sheet_view allows)."""
    patients: dict[int, PatientRef] = {}
    for chunk in _chunks(sorted({t.patient_id for t in trips}), 900):
        for pid, name, coordinator in session.exec(
                select(Patient.id, Patient.name, Patient.coordinator_user_id).where(Patient.id.in_(chunk))).all():
            patients[pid] = PatientRef(pid, name, coordinator)
    # The sealed sheet is not loaded: the rule needs only who the coordinator is.
    allowed = {pid: access.sheet_view(session, user, ref, now=now) is not None for pid, ref in patients.items()}
    return {t.id: patients[t.patient_id] for t in trips if allowed.get(t.patient_id)}


def visible_trip(session: Session, user: User, trip_id: int) -> Trip:
    """Return the trip if ``user`` may see it; otherwise the same 'no trip' as for a missing one."""
    trip = session.get(Trip, trip_id)
    if trip is None or not access.can_see_trip(session, user, trip):
        raise LookupError(f"no trip with id {trip_id}")
    return trip


def load_track(session: Session, trip_id: int) -> list[Fix]:
    """Return the trip's stored fixes in time order as Fix values."""
    rows = session.exec(
        select(FixRow.lat, FixRow.lon, FixRow.ts, FixRow.seq, FixRow.accuracy_m, FixRow.speed_mps,
               FixRow.heading_deg, FixRow.altitude_m, FixRow.battery_pct, FixRow.mock)
        .where(FixRow.trip_id == trip_id).order_by(FixRow.ts, FixRow.id)
    ).all()
    return [Fix(lat, lon, ts, seq, acc, speed, heading, alt, batt, bool(mock))
            for lat, lon, ts, seq, acc, speed, heading, alt, batt, mock in rows]


def known_events(session: Session, trip_id: int, user: User | None) -> list[TripEvent]:
    """Return the trip's events that ``user`` may know of, in time order (``alerts.event_known``)."""
    hidden, hidden_ids = alerts_mod.hidden_kinds(user), alerts_mod.hidden_alert_ids(session, user, trip_id)
    rows = session.exec(select(TripEvent).where(TripEvent.trip_id == trip_id).order_by(TripEvent.at, TripEvent.id))
    return [e for e in rows if alerts_mod.event_known(e.kind, e.detail, hidden, hidden_ids)]


def known_alerts(session: Session, trip_id: int, user: User | None) -> list[Alert]:
    """Return the trip's alerts that ``user`` may know of, oldest first."""
    return list(session.exec(select(Alert).where(Alert.trip_id == trip_id, alerts_mod.known_to(user))
                             .order_by(Alert.raised_at, Alert.id)).all())


def _status_times(events) -> dict[str, datetime]:
    """Return when each status was first reached, from (at, new status) pairs in time order."""
    reached: dict[str, datetime] = {}
    for at, to in events:
        if isinstance(to, str) and to not in reached:
            reached[to] = at
    return reached


def _alert_times(rows) -> tuple[figures.AlertTimes, ...]:
    """Return alerts (rows with kind and times) as the figures see them, oldest first."""
    return tuple(figures.AlertTimes(a.kind, a.raised_at, a.acknowledged_at, a.resolved_at)
                 for a in sorted(rows, key=lambda a: a.raised_at))


def outcome(trip, reached: dict[str, datetime], trip_alerts) -> figures.Outcome:
    """Return the figures' view of a trip (anything with its scheduled times): actual times, alerts."""
    return figures.Outcome(
        scheduled_pickup_at=trip.scheduled_pickup_at, appointment_at=trip.appointment_at,
        pickup_at=reached.get("arrived_pickup") or reached.get("on_board"),
        dropoff_at=reached.get("arrived_dropoff") or reached.get("completed"),
        alerts=_alert_times(trip_alerts),
    )


def _detection(trip: Trip):
    """Return the trip's detection settings (defaults where its stored ones do not validate)."""
    return detection_settings(trip.settings)


def trip_figures(session: Session, trip: Trip, track: list[Fix], *, user: User | None,
                 trip_events: list[TripEvent] | None = None, trip_alerts: list[Alert] | None = None
                 ) -> figures.TripFigures:
    """Compute one trip's figures from its events, the alerts ``user`` may know of, and its track.

    Given ``trip_events`` or ``trip_alerts``, they must be what ``known_events`` and
    ``known_alerts`` return for ``user``.
    """
    trip_events = known_events(session, trip.id, user) if trip_events is None else trip_events
    trip_alerts = known_alerts(session, trip.id, user) if trip_alerts is None else trip_alerts
    reached = _status_times((e.at, (e.detail or {}).get("to")) for e in trip_events if e.kind == "status")
    settings = _detection(trip)
    route = figures.planned_route(trip.route or [], (trip.pickup_lat, trip.pickup_lon),
                                  (trip.dropoff_lat, trip.dropoff_lon))
    return figures.trip_figures(outcome=outcome(trip, reached, trip_alerts), track=track, route=route,
                                on_board_at=reached.get("on_board"), corridor_m=settings.corridor_m,
                                stop_radius_m=settings.stop_radius_m, stop_min_s=settings.stop_after_s)


def _check_period(filters: Filters, what: str) -> None:
    """Refuse a period without both ends or longer than MAX_PERIOD_DAYS."""
    if filters.date_from is None or filters.date_to is None:
        raise LogError(f"{what} both from and to")
    if filters.date_to - filters.date_from > timedelta(days=MAX_PERIOD_DAYS):
        raise LogError(f"a period is at most {MAX_PERIOD_DAYS} days")


def period(session: Session, user: User, filters: Filters) -> list[figures.Outcome]:
    """Return the outcomes of every trip the filters select, for the period figures.

    Only the columns the figures need are read, and the new status is taken out of the
    event's JSON by the database: a month of a busy service is thousands of trips.
    """
    _check_period(filters, "period figures need")
    trips = session.exec(_filtered(select(Trip.id, Trip.scheduled_pickup_at, Trip.appointment_at), session, user,
                                   filters).order_by(Trip.scheduled_pickup_at, Trip.id)
                         .limit(MAX_PERIOD_TRIPS + 1)).all()
    if len(trips) > MAX_PERIOD_TRIPS:
        raise LogError(f"more than {MAX_PERIOD_TRIPS} trips in the period; narrow it")
    # Batches of ids, not a subquery: PostgreSQL misjudges the JSON filter and scans every event.
    chunks = list(_chunks([t.id for t in trips], 900))
    known = alerts_mod.known_to(user)
    events, alerts = _bulk(session, [TripEvent.trip_id.in_(c) for c in chunks],
                           [Alert.trip_id.in_(c) & known for c in chunks], first_only=True)
    return [outcome(t, _status_times(events.get(t.id, [])), alerts.get(t.id, [])) for t in trips]


# The new status of a status event, read by the database (SQLite json_extract, PostgreSQL ->>).
_STATUS_TO = TripEvent.detail["to"].as_string()
_MEASURED = ("arrived_pickup", "on_board", "arrived_dropoff", "completed")


def _bulk(session: Session, event_where: list, alert_where: list, *,
          first_only: bool = False) -> tuple[dict[int, list], dict[int, list]]:
    """Load status changes (at, new status) and alert times of many trips, by trip id.

    ``event_where``/``alert_where`` are clauses each selecting a batch of trips; with
    ``first_only``, only the first time each measured status was reached.
    """
    by_trip_events: dict[int, list] = {}
    by_trip_alerts: dict[int, list] = {}
    for where in event_where:
        if first_only:
            query = (select(TripEvent.trip_id, func.min(TripEvent.at), _STATUS_TO)
                     .where(where, TripEvent.kind == "status", _STATUS_TO.in_(_MEASURED))
                     .group_by(TripEvent.trip_id, _STATUS_TO))
            rows = sorted(session.exec(query).all(), key=lambda r: r[1])
        else:
            rows = session.exec(select(TripEvent.trip_id, TripEvent.at, _STATUS_TO)
                                .where(where, TripEvent.kind == "status").order_by(TripEvent.at, TripEvent.id)).all()
        for trip_id, at, to in rows:
            by_trip_events.setdefault(trip_id, []).append((at, to))
    for where in alert_where:
        for row in session.exec(select(Alert.trip_id, Alert.kind, Alert.raised_at, Alert.acknowledged_at,
                                       Alert.resolved_at).where(where)).all():
            by_trip_alerts.setdefault(row.trip_id, []).append(row)
    return by_trip_events, by_trip_alerts


def records(session: Session, user: User, trips: list[Trip], *, now: datetime) -> list[tuple]:
    """Return (trip, outcome, extra) per trip for the CSV export; extra has escort, patient, statuses."""
    chunks = list(_chunks([t.id for t in trips], 900))
    known = alerts_mod.known_to(user)
    events, alerts = _bulk(session, [TripEvent.trip_id.in_(c) for c in chunks],
                           [Alert.trip_id.in_(c) & known for c in chunks])
    escort_ids = {t.escort_user_id for t in trips if t.escort_user_id}
    names = {}
    for chunk in _chunks(sorted(escort_ids), 900):
        names.update(dict(session.exec(select(User.id, User.username).where(User.id.in_(chunk))).all()))
    shown = visible_patients(session, user, trips, now=now)
    out = []
    for t in trips:
        evs = events.get(t.id, [])
        statuses = [to for _at, to in evs if isinstance(to, str)]
        out.append((t, outcome(t, _status_times(evs), alerts.get(t.id, [])),
                    {"escort": names.get(t.escort_user_id), "patient": shown.get(t.id), "statuses": statuses}))
    return out


def _chunks(items: list, size: int):
    """Yield slices of at most ``size`` items (SQLite limits bound parameters)."""
    for i in range(0, len(items), size):
        yield items[i:i + size]


def period_trips(session: Session, user: User, filters: Filters) -> list[Trip]:
    """Return every trip of a period (bounded like ``period``), oldest first, for the CSV export."""
    _check_period(filters, "the export needs")
    trips = list(session.exec(_filtered(select(Trip), session, user, filters)
                              .order_by(Trip.scheduled_pickup_at, Trip.id).limit(MAX_PERIOD_TRIPS + 1)).all())
    if len(trips) > MAX_PERIOD_TRIPS:
        raise LogError(f"more than {MAX_PERIOD_TRIPS} trips in the period; narrow it")
    return trips


# --- the timeline -----------------------------------------------------------------------------

_PLACES = {"arrived_pickup": "Entered the pickup area", "left_pickup": "Left the pickup area",
           "arrived_dropoff": "Entered the drop-off area", "left_dropoff": "Left the drop-off area"}


def _label(status: str | None) -> str:
    """Return a status as words."""
    return (status or "?").replace("_", " ")


def describe(kind: str, detail: dict, by: str | None, *, show_patient: bool,
             show_targets: bool = True) -> tuple[str, str]:
    """Return (group, one line of text) for a timeline event.

    ``show_targets``: a failed notice names where it went (an address, a number); escorts reading
    their own trip's log are told only which channel failed.
    """
    who = f" by {by}" if by else ""
    if kind == "created":
        return "status", f"Trip created{who} ({_label(detail.get('status'))})"
    if kind == "status":
        reason = f": {detail['reason']}" if detail.get("reason") else ""
        return "status", f"Status {_label(detail.get('from'))} → {_label(detail.get('to'))}{who}{reason}"
    # Re-planning (issue #14): reassignments, edits and copies.
    if kind == "reassigned":
        return "status", f"Escort {detail.get('from') or 'none'} → {detail.get('to') or 'none'}{who}"
    if kind == "edited":
        return "status", f"Trip changed{who}: {', '.join(_label(f) for f in detail.get('fields') or [])}"
    if kind == "duplicated":
        return "status", f"Copied from trip {detail.get('from_trip')}{who}"
    if kind == "checkin":
        return "checkin", f"Check-in{who}"
    if kind.startswith("alert_"):
        alert_kind = _label(detail.get("kind"))
        if kind == "alert_raised":
            extra = []
            if detail.get("max_distance_off_route_m") is not None:
                extra.append(f"{detail['max_distance_off_route_m']:.0f} m off route")
            if detail.get("duration_s") is not None:
                extra.append(f"{detail['duration_s']:.0f} s")
            if detail.get("wrong_in_a_row") is not None:
                extra.append(f"{detail['wrong_in_a_row']} wrong PINs in a row")
            return "alert", f"Alert raised: {alert_kind}" + (f" ({', '.join(extra)})" if extra else "")
        if kind == "alert_acknowledged":
            return "alert", f"Alert acknowledged: {alert_kind}{who}"
        if kind == "alert_resolved":
            note = f": {detail['note']}" if detail.get("note") else ""
            return "alert", f"Alert resolved: {alert_kind} as {detail.get('category') or '?'}{who}{note}"
        if kind == "alert_cleared":
            cleared_by = detail.get("note") if detail.get("note") != "cleared automatically" else None
            return "alert", f"Alert cleared on its own: {alert_kind}" + (f" ({cleared_by})" if cleared_by else "")
    if kind == "notification":
        attempts = detail.get("attempts") or []
        ok = sum(1 for a in attempts if a.get("ok"))
        failed = "; ".join(f"{a.get('channel')} to {a.get('target')} failed: {a.get('error')}" if show_targets
                           else f"{a.get('channel')} failed" for a in attempts if not a.get("ok"))
        text = (f"Escalation step {detail.get('level')} ({detail.get('to')}) for {_label(detail.get('kind'))}: "
                f"{ok} of {len(attempts)} notices delivered")
        return "notification", text + (f" ({failed})" if failed else "")
    if kind == "note":
        return "note", f"Note{who}: {detail.get('text', '')}"
    if kind == "message":
        side = "dispatch" if detail.get("from") == "dispatch" else "the escort"
        return "message", f"Message from {side}{who}: {detail.get('text', '')}"
    if kind == "flag_warning":
        where = "drop-off" if detail.get("where") == "dropoff" else "pickup"
        return "warning", f"Flagged place at the {where}: {detail.get('title', 'Warning')}: {detail.get('reason', '')}"
    if kind == "track_summary":
        return "other", (f"Raw track purged after the retention period; its figures were kept "
                         f"({detail.get('fixes', '?')} fixes)")
    if kind in _PLACES:
        return "place", _PLACES[kind]
    if kind.startswith("medication_"):
        if show_patient and detail.get("medication"):
            reason = f" ({detail['reason']})" if detail.get("reason") else ""
            return "medication", f"Medication {kind.removeprefix('medication_')}: {detail['medication']}{reason}"
        return "medication", f"Medication {kind.removeprefix('medication_')}"
    return "other", _label(kind).capitalize()


def timeline(session: Session, trip: Trip, *, user: User | None, show_patient: bool, track: list[Fix] | None = None,
             events: list[TripEvent] | None = None) -> list[dict]:
    """Return the timeline ``user`` may know of in time order: who, what, where (from the track when not recorded).

    Given ``events``, they must be what ``known_events`` returns for ``user`` (or a part of it).
    """
    events = known_events(session, trip.id, user) if events is None else events
    # Staff's and contacts' addresses in a failed notice are for staff, not for the escort's tablet.
    show_targets = user is None or user.role != "escort"
    user_ids = {e.user_id for e in events if e.user_id}
    names = dict(session.exec(select(User.id, User.username).where(User.id.in_(user_ids))).all()) if user_ids else {}
    times = [f.ts for f in track] if track else []
    # Where each of the trip's alerts happened, in words (filled by the sweep's reverse geocoding).
    places = dict(session.exec(select(Alert.id, Alert.place).where(Alert.trip_id == trip.id,
                                                                  Alert.place.is_not(None))).all())
    out = []
    for e in events:
        detail = alerts_mod.opened(e.detail)
        by = names.get(e.user_id) or detail.get("by")
        group, text = describe(e.kind, detail, by, show_patient=show_patient, show_targets=show_targets)
        lat, lon, where = detail.get("lat"), detail.get("lon"), "recorded"
        if not (isinstance(lat, (int, float)) and isinstance(lon, (int, float))):
            lat = lon = where = None
            i = bisect_right(times, e.at) - 1
            if i >= 0 and (e.at - times[i]).total_seconds() <= POSITION_FROM_TRACK_S:
                lat, lon, where = track[i].lat, track[i].lon, "track"
        item = {"id": e.id, "at": iso_z(e.at), "t": e.at.timestamp(), "kind": e.kind, "group": group,
                "text": text, "by": by, "lat": lat, "lon": lon, "position": where}
        if e.kind.startswith("alert_") or e.kind == "notification":
            item["alert_id"] = detail.get("alert_id")
            item["place"] = places.get(item["alert_id"]) or None
        out.append(item)
    return out


def add_note(session: Session, trip: Trip, user: User, text, *, now: datetime) -> TripEvent:
    """Add a note to the trip's log (a TripEvent of kind 'note')."""
    if not isinstance(text, str) or not text.strip():
        raise LogError("text: write the note (1 to 2000 characters)")
    text = text.strip()
    if len(text) > NOTE_MAX_CHARS:
        raise LogError(f"text: a note is at most {NOTE_MAX_CHARS} characters")
    event = TripEvent(trip_id=trip.id, at=now, kind="note", user_id=user.id, detail={"text": text, "by": user.username})
    session.add(event)
    session.flush()
    return event


# --- the log page and its replay ----------------------------------------------------------------


def header(session: Session, trip: Trip, user: User, *, now: datetime) -> dict:
    """Return the trip's heading facts for the log and report pages (patient only where allowed)."""
    row = rows_public(session, user, [trip], now=now)[0]
    shown = row["patient_id"] is not None
    return {**row, "show_patient": shown,
            "pickup": {"lat": trip.pickup_lat, "lon": trip.pickup_lon, "radius_m": trip.pickup_radius_m} if shown else None,
            "dropoff": {"lat": trip.dropoff_lat, "lon": trip.dropoff_lon, "radius_m": trip.dropoff_radius_m} if shown else None}


def replay(session: Session, trip: Trip, user: User, *, now: datetime) -> dict:
    """Return everything the log page's replay needs: track, route, marks, timeline and figures."""
    track = load_track(session, trip.id)
    events = known_events(session, trip.id, user)
    trip_alerts = known_alerts(session, trip.id, user)
    head = header(session, trip, user, now=now)
    figs = trip_figures(session, trip, track, user=user, trip_events=events, trip_alerts=trip_alerts)
    names = {}
    user_ids = {a.acknowledged_by_id for a in trip_alerts if a.acknowledged_by_id}
    if user_ids:
        names = dict(session.exec(select(User.id, User.username).where(User.id.in_(user_ids))).all())
    return {
        "trip": head,
        "route": trip.route or [],
        # [lat, lon, epoch s, speed m/s, mock]: the fifth says the phone marked the position a mock location.
        "track": [[f.lat, f.lon, f.ts.timestamp(), f.speed_mps, f.mock] for f in track],
        "off_route": [_stretch(s) for s in figs.off_route],
        "stops": [_stretch(s) for s in figs.stops],
        "timeline": timeline(session, trip, user=user, show_patient=head["show_patient"], track=track,
                             events=events),
        "alerts": [alerts_mod.public(a, names) for a in trip_alerts],
        "figures": figures_or_summary(figs, track, events),
    }


# The figures of a trip's alerts: always from the alerts themselves (kept for good, and filtered
# for the reader), never from a stored summary, which counted every alert.
ALERT_FIGURES = ("alert_count", "acknowledged_count", "mean_ack_s", "max_ack_s")


def figures_or_summary(figs: figures.TripFigures, track: list[Fix], events: list[TripEvent]) -> dict:
    """Return the figures; once the raw track is purged, those kept when it was (``escort purge``)."""
    live = figs.as_dict()
    if not track:
        kept = [e for e in events if e.kind == "track_summary"]
        if kept:
            return {**kept[-1].detail, **{k: live[k] for k in ALERT_FIGURES}, "from_summary": True}
    return live


def _stretch(s: figures.Stretch) -> dict:
    """Return a stretch for the replay: fix indexes, times, where, how long."""
    return {"start_index": s.start_index, "end_index": s.end_index, "start_at": iso_z(s.start_at),
            "end_at": iso_z(s.end_at), "t0": s.start_at.timestamp(), "t1": s.end_at.timestamp(),
            "duration_s": round(s.duration_s, 1), "lat": s.lat, "lon": s.lon, "max_distance_m": s.max_distance_m}
