"""The periodic sweep for what no fix can trigger: lost signal, missed check-ins, escalation.

``sweep`` takes ``now`` as an argument, so tests move time. It is idempotent in the
database: alerts are unique per trip and kind while open, and each escalation step is
claimed with a conditional UPDATE, so two processes sweeping at once raise each alert once
and send each notice once. On PostgreSQL an advisory lock also keeps sweeps from
overlapping, which the medication reminders (no unique key) need.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import case, literal, text, update
from sqlmodel import Session, func, or_, select

from app.models import User
from app.times import iso_z
from dispatch import alerts, escalation, live_links, notify, safety
from dispatch.models import Alert, Trip, TripEvent
from dispatch.settings import SAFETY_DEFAULTS
from dispatch.trips import ACTIVE
from patients.medication import doses_between
from patients.models import Patient
from places.cache import as_coordinates
from tracking.models import Device, TripTrackState

log = logging.getLogger(__name__)
# Whose responder link a level gets: the escort's personal emergency contact never gets the staff's URL.
LINK_AUDIENCES = {1: "staff", 2: "staff", 3: "contact"}
# Open alerts that stop the drive counting as evidence of life.
PAUSING_KINDS = ("deviation", "stop")
MEDICATION_LOOKBACK = timedelta(days=1)
# A dose's reminder, and its record as given or skipped (after which it is neither reminded nor alerted on).
MEDICATION_EVENTS = ("medication_reminder", "medication_given", "medication_skipped")
SWEEP_LOCK_KEY = 0x45534344  # the advisory lock id of the sweep ("ESCD"), one per database
# What the timers read of a trip under way (a Trip has them too: checkin_clock_for passes one).
SWEEP_COLUMNS = (Trip.id, Trip.status, Trip.device_id, Trip.escort_user_id, Trip.patient_id, Trip.started_at,
                 Trip.settings)


@dataclass
class SweepResult:
    """What a sweep changed: alerts to publish and check-in reminders to send."""

    alerts: list[Alert] = field(default_factory=list)
    reminders: list[dict] = field(default_factory=list)
    skipped: bool = False  # another process was sweeping


def timer(trip: Trip, name: str) -> float:
    """Return one of the trip's safety timers in seconds (its setting or the default)."""
    return float((trip.settings or {}).get(name, SAFETY_DEFAULTS[name]))


def sweep(session: Session, *, now: datetime, channels: notify.Channels, tz: str = "UTC") -> SweepResult:
    """Run every timer once for every trip under way, and escalate unanswered alerts.

    On PostgreSQL one process sweeps at a time: a process that finds another one sweeping
    skips this round (the other does the work), so reminders, which no unique key guards,
    go out once. What the timers read is loaded for all trips at once (``_Facts``): a
    handful of queries whatever the number of trips, so a sweep over a thousand trips does
    not hold the event loop for seconds.
    """
    result = SweepResult()
    with _sweep_lock(session) as mine:
        if not mine:
            result.skipped = True
            return result
        # Only the columns the timers read, as plain rows: a thousand trips loaded as ORM
        # objects every few seconds cost more than all the timers' work.
        trips = session.exec(select(*SWEEP_COLUMNS).where(Trip.status.in_(ACTIVE))).all()
        facts = _Facts.load(session, trips)
        for trip in trips:
            _signal_lost(session, trip, now, result, facts)
            _checkin_due(session, trip, now, result, facts)
            _medication(session, trip, now, tz, result, facts)
        session.commit()
        _escalate(session, now, channels, result, tz)
    return result


def _chunks(ids: list[int], size: int = 500) -> Iterator[list[int]]:
    """Yield ``ids`` in slices small enough for any database's limit on bound parameters."""
    for i in range(0, len(ids), size):
        yield ids[i:i + size]


@dataclass
class _Facts:
    """What the timers need of every trip under way, read in a few set-based queries."""

    last_fix: dict[int, datetime] = field(default_factory=dict)
    last_checkin: dict[int, datetime] = field(default_factory=dict)
    last_driven: dict[int, datetime] = field(default_factory=dict)  # detection's last fix, trips on board
    paused_at: dict[int, datetime] = field(default_factory=dict)  # when a deviation or stop alert opened
    patients: dict[int, object] = field(default_factory=dict)
    reminded: dict[int, set[str]] = field(default_factory=dict)
    recorded: dict[int, set[str]] = field(default_factory=dict)  # doses the escort recorded as given or skipped

    @classmethod
    def load(cls, session: Session, trips: list[Trip], *, with_medication: bool = True) -> "_Facts":
        """Read the facts of ``trips``: latest fix, latest check-in, detection state, open alerts, patients."""
        facts = cls()
        ids = [t.id for t in trips]
        on_board = [t.id for t in trips if t.status == "on_board" and t.started_at is not None]
        wanted = set(on_board)
        for chunk in _chunks(ids):
            # The trip's detection state row moves with every fresh fix: when the last one came,
            # and the time of the last fix detection used.
            for trip_id, received_at, driven in session.exec(select(
                    TripTrackState.trip_id, TripTrackState.last_fix_received_at, TripTrackState.last_detected_at)
                    .where(TripTrackState.trip_id.in_(chunk))):
                facts.last_fix[trip_id] = received_at
                if trip_id in wanted and driven is not None:
                    facts.last_driven[trip_id] = driven
            facts.last_checkin.update(session.exec(
                select(TripEvent.trip_id, func.max(TripEvent.at))
                .where(TripEvent.trip_id.in_(chunk), TripEvent.kind == "checkin").group_by(TripEvent.trip_id)).all())
            facts.paused_at.update(session.exec(
                select(Alert.trip_id, func.min(Alert.raised_at)).where(
                    Alert.trip_id.in_(chunk), Alert.resolved_at.is_(None), Alert.kind.in_(PAUSING_KINDS))
                .group_by(Alert.trip_id)).all())
        if not with_medication:
            return facts
        for chunk in _chunks(on_board):
            for trip_id, kind, detail in session.exec(select(TripEvent.trip_id, TripEvent.kind, TripEvent.detail).where(
                    TripEvent.trip_id.in_(chunk), TripEvent.kind.in_(MEDICATION_EVENTS))):
                into = facts.reminded if kind == "medication_reminder" else facts.recorded
                into.setdefault(trip_id, set()).add(alerts.opened(detail).get("key"))
        patient_ids = sorted({t.patient_id for t in trips if t.id in wanted})
        for chunk in _chunks(patient_ids):
            facts.patients.update((p.id, p) for p in session.exec(select(Patient).where(Patient.id.in_(chunk))))
        return facts


@contextmanager
def _sweep_lock(session: Session) -> Iterator[bool]:
    """Hold PostgreSQL's advisory lock for sweeps if no other process holds it; yield whether we got it.

    The lock lives on a connection of its own (the sweep commits as it goes, which would end a
    transaction-level lock early); PostgreSQL frees it by itself if this process dies.
    """
    engine = session.get_bind()
    if engine.dialect.name != "postgresql":
        yield True  # SQLite serves one process
        return
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        got = conn.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": SWEEP_LOCK_KEY}).scalar()
        try:
            yield bool(got)
        finally:
            if got:
                conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": SWEEP_LOCK_KEY})


def _signal_lost(session: Session, trip: Trip, now: datetime, result: SweepResult, facts: _Facts) -> None:
    """Raise ``signal_lost`` when no fix has arrived for the trip for too long."""
    last = facts.last_fix.get(trip.id) or trip.started_at
    if last is None:
        return
    silent_s = (now - last).total_seconds()
    if silent_s >= timer(trip, "signal_lost_after_s"):
        alert, new = alerts.raise_alert(session, trip_id=trip.id, device_id=trip.device_id, kind="signal_lost",
                                        detail={"last_fix_at": last.isoformat(), "silent_s": round(silent_s)},
                                        at=now, now=now)
        if new:
            result.alerts.append(alert)


def checkin_clock(trip: Trip, facts: _Facts) -> safety.CheckinClock | None:
    """Return the trip's check-in clock from what the sweep read of it."""
    return safety.checkin_clock(
        started_at=trip.started_at, last_checkin=facts.last_checkin.get(trip.id),
        last_driven=facts.last_driven.get(trip.id), on_board=trip.status == "on_board",
        paused_at=facts.paused_at.get(trip.id), interval_s=timer(trip, "checkin_interval_s"),
        grace_s=timer(trip, "checkin_grace_s"))


def checkin_clock_for(session: Session, trip: Trip) -> safety.CheckinClock | None:
    """Return one trip's check-in clock (None unless under way), for the escort's tablet."""
    if trip.status not in ACTIVE:
        return None
    return checkin_clock(trip, _Facts.load(session, [trip], with_medication=False))


def _checkin_due(session: Session, trip: Trip, now: datetime, result: SweepResult, facts: _Facts) -> None:
    """Remind the escort once per due time, then raise ``missed_checkin`` when the clock runs out."""
    clock = checkin_clock(trip, facts)
    if clock is None:
        return
    if now >= clock.missed_at:
        alert, new = alerts.raise_alert(session, trip_id=trip.id, device_id=trip.device_id, kind="missed_checkin",
                                        detail={"due_at": clock.due_at.isoformat()}, at=now, now=now)
        if new:
            result.alerts.append(alert)
    elif now >= clock.remind_at and trip.escort_user_id is not None and _claim_reminder(session, trip, clock.due_at):
        result.reminders.append({"escort_user_id": trip.escort_user_id, "event": "checkin_due",
                                 "payload": {"trip_id": trip.id, "due_at": iso_z(clock.due_at)}})


def _claim_reminder(session: Session, trip: Trip, due_at: datetime) -> bool:
    """Record on the trip that the reminder for ``due_at`` is sent; say whether this sweep is the one to send it.

    In the database, not in memory: every sweep of every process sees the same record, so the
    tablet hears of each due time once however often (and wherever) the sweep runs.
    """
    return session.execute(
        update(Trip).where(Trip.id == trip.id, or_(Trip.checkin_reminded_for.is_(None),
                                                   Trip.checkin_reminded_for != due_at))
        .values(checkin_reminded_for=due_at).execution_options(synchronize_session=False)).rowcount == 1


def _medication(session: Session, trip: Trip, now: datetime, tz: str, result: SweepResult, facts: _Facts) -> None:
    """Remind the escort at each dose time in transit; raise ``medication_due`` after the grace."""
    if trip.status != "on_board" or trip.started_at is None:
        return
    patient = facts.patients.get(trip.patient_id)
    if patient is None or not patient.medications:
        return
    grace = timedelta(seconds=timer(trip, "medication_grace_s"))
    reminded = facts.reminded.get(trip.id, set())
    recorded = facts.recorded.get(trip.id, set())
    # A trip left on board for days looks back one day at most: its doses before that were
    # reminded and alerted on in their time, and the window (so the work) stays bounded.
    since = max(trip.started_at, now - MEDICATION_LOOKBACK)
    for dose in doses_between(patient.medications, since, now + timedelta(seconds=1), tz):
        if dose.key() in recorded:
            continue
        detail = {"medication": dose.name, "dose": dose.dose, "due_at": dose.at.isoformat()}
        if dose.key() not in reminded and trip.escort_user_id is not None:
            session.add(TripEvent(trip_id=trip.id, at=now, kind="medication_reminder",
                                  detail=alerts.sealed({"key": dose.key(), **detail})))
            result.reminders.append({"escort_user_id": trip.escort_user_id, "event": "medication_due",
                                     "payload": {"trip_id": trip.id, **detail}})
        if now >= dose.at + grace:
            alert, new = alerts.raise_alert(session, trip_id=trip.id, device_id=trip.device_id, kind="medication_due",
                                            detail=alerts.sealed(detail), at=now, now=now)
            if new:
                result.alerts.append(alert)


def _escalate(session: Session, now: datetime, channels: notify.Channels, result: SweepResult,
              tz: str = "UTC") -> None:
    """Move every unacknowledged alert one step up the chain when its time is up."""
    for alert in session.exec(select(Alert).where(Alert.resolved_at.is_(None), Alert.acknowledged_at.is_(None),
                                                  Alert.escalation_level < max(escalation.LEVELS))).all():
        trip = session.get(Trip, alert.trip_id) if alert.trip_id else None
        wait_s = timer(trip, "escalate_after_s") if trip else SAFETY_DEFAULTS["escalate_after_s"]
        if (now - (alert.escalated_at or alert.raised_at)).total_seconds() < wait_s:
            continue
        level = alert.escalation_level + 1
        # The step is a change of the alert: ``updated_at`` moves with it (never back, should another
        # process have stamped a later time since this sweep read the clock), so screens keep this copy.
        claimed = session.execute(
            update(Alert).where(Alert.id == alert.id, Alert.escalation_level == alert.escalation_level,
                                Alert.acknowledged_at.is_(None))
            .values(escalation_level=level, escalated_at=now,
                    updated_at=case((Alert.updated_at > now, Alert.updated_at),
                                    else_=literal(now, Alert.updated_at.type)))
        ).rowcount
        session.commit()
        if claimed != 1:
            continue  # another process took this step
        session.refresh(alert)
        attempts = _send_step(session, alert, trip, level, channels, now=now, tz=tz)
        if trip is not None:
            session.add(TripEvent(trip_id=trip.id, at=now, kind="notification", detail=alerts.sealed({
                "alert_id": alert.id, "kind": alert.kind, "level": level, "to": escalation.LEVELS[level],
                "attempts": [a.as_dict() for a in attempts]})))
            session.commit()
        result.alerts.append(alert)


def _where(session: Session, alert: Alert, trip: Trip | None, channels: notify.Channels) -> escalation.Where | None:
    """Return where the alert is: its own position, else the device's last one; in words when a geocoder answers."""
    detail = alerts.opened(alert.detail)
    lat, lon, at = detail.get("lat"), detail.get("lon"), alert.raised_at
    if not (isinstance(lat, (int, float)) and isinstance(lon, (int, float))):
        device = session.get(Device, alert.device_id or (trip.device_id if trip else None) or 0)
        if device is None or device.last_lat is None:
            return None
        lat, lon, at = device.last_lat, device.last_lon, device.last_fix_at
    # The sweep fills the alert's place off the ingest path (dispatch/alert_places.py); an
    # escalation comes minutes later, so the words are usually there already.
    words = alert.place
    if words is None and channels.describe_place is not None:
        try:
            words = channels.describe_place(lat, lon)
        except Exception:  # noqa: BLE001  (a geocoder fault never holds an escalation back: coordinates still go)
            log.warning("no words for the place of alert %s", alert.id, exc_info=True)
    return escalation.Where(lat=lat, lon=lon, at=at, words=words)


def _live_link(session: Session, alert: Alert, level: int, channels: notify.Channels,
               now: datetime) -> tuple[str | None, datetime | None]:
    """Return this step's responder link (the alert's one link for the level's audience, kept open for the
    step) when the server knows its public URL; else (None, None)."""
    if not channels.public_url or alert.resolved_at is not None:
        return None, None
    if channels.link_secret:
        made = live_links.for_step(session, alert, now=now, minutes=channels.link_minutes, secret=channels.link_secret,
                                   audience=LINK_AUDIENCES[level])
    else:
        made = live_links.create(session, alert, now=now, minutes=channels.link_minutes)
    session.commit()
    return live_links.url(channels.public_url, made.token), made.link.expires_at


def _send_step(session: Session, alert: Alert, trip: Trip | None, level: int,
               channels: notify.Channels, *, now: datetime, tz: str = "UTC") -> list[notify.Attempt]:
    """Notify the people of one escalation level with what they need to act: kind, when, where, phone, what to do."""
    escort = session.get(User, trip.escort_user_id) if trip and trip.escort_user_id else None
    if level == 1:
        emails = [u.email for u in session.exec(select(User).where(User.role == "dispatcher", User.is_active)).all()
                  if u.email]
    elif level == 2:
        emails = [channels.supervisor_email] if channels.supervisor_email else []
    else:
        emails = [escort.emergency_contact_email] if escort and escort.emergency_contact_email else []
    live_url, live_until = _live_link(session, alert, level, channels, now)
    payload = escalation.payload(
        alert_id=alert.id, kind=alert.kind, trip_id=alert.trip_id, level=level, to=escalation.LEVELS[level],
        raised_at=alert.raised_at, escort=escort.username if escort else None,
        escort_phone=escort.phone if escort else None, dispatch_phone=channels.dispatch_phone,
        where=_where(session, alert, trip, channels), tz=tz, live_url=live_url, live_until=live_until)
    # The place as one line (words, else coordinates) for consumers of the older webhook body.
    where = payload["where"]
    payload["place"] = (where["words"] or as_coordinates(where["lat"], where["lon"])) if where else None
    subject = f"[Escort Dispatch] unanswered {alert.kind.replace('_', ' ')} alert on trip {alert.trip_id}"
    return notify.notify(channels, payload, emails, subject, escalation.email_body(payload))
