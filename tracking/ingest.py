"""The fix pipeline: validate, store once, detect on the trip, hand events on."""

from __future__ import annotations

import logging
import threading
import time
import weakref
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Iterable

from sqlalchemy import exc as sa_exc
from sqlalchemy import or_
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from tracking.fix import Fix
from tracking.models import Device
from tracking.rawsql import RawSQL
from tracking.schemas import MAX_BATCH, parse_fix, raw_seq

log = logging.getLogger(__name__)


# The refusal of a fix from an escort who is off duty with no trip: not stored, not shown, not to be sent again.
OFF_DUTY = "off duty: your position is not shared while you have no trip; switch on duty to share it"


@dataclass(frozen=True)
class Limits:
    """How far from the server's clock a fix's timestamp may be."""

    max_future_skew_s: float = 120.0
    max_fix_age_s: float = 7 * 24 * 3600.0


@dataclass
class IngestResult:
    """What happened to a batch: acks for the device, and what to tell dispatchers."""

    accepted: list[int] = field(default_factory=list)
    rejected: list[dict] = field(default_factory=list)
    stored: list[dict] = field(default_factory=list)
    alerts: list[Any] = field(default_factory=list)
    notices: list[dict] = field(default_factory=list)
    trip_id: int | None = None
    reused: int = 0  # new fixes that reuse a seq the device had sent at another time (counted in /metrics)


def parse_payloads(raws: Iterable[Any], result: IngestResult) -> list[Fix]:
    """Validate raw payloads; refusals go to ``result.rejected`` with their reason."""
    fixes = []
    for raw in raws:
        try:
            fixes.append(parse_fix(raw))
        except ValueError as exc:
            result.rejected.append({"seq": raw_seq(raw), "error": str(exc)})
    return fixes


def check_times(fixes: list[Fix], result: IngestResult, *, now: datetime, limits: Limits) -> list[Fix]:
    """Refuse fixes dated in the future or absurdly old; late ones within the limit pass."""
    latest = now + timedelta(seconds=limits.max_future_skew_s)
    earliest = now - timedelta(seconds=limits.max_fix_age_s)
    kept = []
    for fix in fixes:
        if fix.ts > latest:
            result.rejected.append({"seq": fix.seq, "error": "ts: timestamp is in the future"})
        elif fix.ts < earliest:
            result.rejected.append({"seq": fix.seq, "error": "ts: timestamp is too old"})
        else:
            kept.append(fix)
    return kept


def accept_payloads(session: Session, device: Device, raws: list[Any], *, now: datetime,
                    limits: Limits = Limits(), trip_cache: "ActiveTrips | None" = None,
                    zone_cache=None) -> IngestResult:
    """Run raw device payloads through the whole pipeline and commit (the /device and REST path)."""
    result = IngestResult()
    if len(raws) > MAX_BATCH:
        result.rejected.extend({"seq": raw_seq(r), "error": f"batch larger than {MAX_BATCH}"} for r in raws)
        return result
    return accept(session, device, parse_payloads(raws, result), now=now, limits=limits, result=result,
                  trip_cache=trip_cache, zone_cache=zone_cache)


def accept(session: Session, device: Device, fixes: list[Fix], *, now: datetime,
           limits: Limits = Limits(), result: IngestResult | None = None,
           trip_cache: "ActiveTrips | None" = None, zone_cache=None) -> IngestResult:
    """Store valid fixes once per (device, seq, ts), run detection, commit, then publish.

    ``device`` needs only ``id`` and ``escort_user_id`` (a Device or a DeviceRef).
    """
    from app import metrics, realtime
    from dispatch import alerts, present, trips

    began = time.perf_counter()
    result = result or IngestResult()
    fixes = check_times(fixes, result, now=now, limits=limits)
    fixes = _dedupe_in_batch(fixes, result)
    if fixes:
        trip = trip_cache.get(session, device, now=now) if trip_cache else trips.active_trip_for_device(session, device)
        trip_ids = _assign_trips(device, trip, fixes, _backlog(session, [(device, trip, fixes)]))
        if trip is None and trip_cache is not None:
            fixes = _refuse_off_duty(session, trip_cache, [(device, fixes, trip_ids, result)])[0]
    if fixes:
        fresh = _store(session, device, fixes, trip_ids, result, now=now)
        result.accepted.extend(f.seq for f in fixes)
        _touch_device(session, device, fresh, now=now)
        result.stored = [present.fix_public(f, device.id, trip_ids[_key(f)]) for f in sorted(fresh, key=lambda f: f.ts)]
        if trip is not None:
            result.trip_id = trip.id
            mine = [f for f in fresh if trip_ids[_key(f)] == trip.id]
            if mine:
                _signal_back(session, trip, result, now=now)
                _detect(session, trip, mine, result, now=now, zone_cache=zone_cache)
    session.commit()
    metrics.ingest_seconds.observe(time.perf_counter() - began)
    metrics.fixes_stored.inc(len(result.stored))
    metrics.fixes_rejected.inc(len(result.rejected))
    metrics.fix_seq_reused.inc(result.reused)
    for alert in result.alerts:
        metrics.alerts_raised.labels(alert.kind).inc()
    realtime.publish_ingest(result, alerts.public)
    return result


def _refuse_off_duty(session: Session, trip_cache: "ActiveTrips", batches: list) -> list[list[Fix]]:
    """Refuse the fixes of off-duty escorts that belong to no trip; return each batch's fixes kept.

    ``batches`` holds (device, fixes, their trip ids, result) for devices with no trip under
    way; a late fix that falls in an ended trip's window is that trip's, and kept.
    """
    loose = [device.id for device, fixes, trip_ids, _ in batches if any(trip_ids[_key(f)] is None for f in fixes)]
    hidden = trip_cache.hidden(session, loose) if loose and trip_cache.hidden is not None else set()
    kept = []
    for device, fixes, trip_ids, result in batches:
        if device.id not in hidden:
            kept.append(fixes)
            continue
        mine = []
        for fix in fixes:
            if trip_ids[_key(fix)] is None:
                result.rejected.append({"seq": fix.seq, "error": OFF_DUTY})
            else:
                mine.append(fix)
        kept.append(mine)
    return kept


def _key(fix: Fix) -> tuple[int, datetime]:
    """Return what makes a fix the same fix: its seq and its time (the device is the batch's)."""
    return fix.seq, fix.ts


def _dedupe_in_batch(fixes: list[Fix], result: IngestResult) -> list[Fix]:
    """Keep the first of repeated fixes (same seq and time) within one batch; the rest are acked, stored once.

    The same seq at another time is another fix: a counter that started again.
    """
    seen: set[tuple[int, datetime]] = set()
    kept = []
    for fix in fixes:
        key = _key(fix)
        if key in seen:
            result.accepted.append(fix.seq)
            continue
        seen.add(key)
        kept.append(fix)
    return kept


def _backlog(session: Session, batches: list[tuple[Any, Any, list[Fix]]]) -> list:
    """Return the ended trips that may hold the fixes of the batches with no trip under way: one query.

    ``batches`` holds (device, trip under way or None, fixes); none without a trip, no query.
    """
    from dispatch import trips

    late = [(device, fixes) for device, trip, fixes in batches if trip is None and fixes]
    if not late:
        return []
    times = [f.ts for _, fixes in late for f in fixes]
    return trips.backlog_candidates(session, [device for device, _ in late], min(times), max(times))


def _assign_trips(device, trip, fixes: list[Fix], candidates: list) -> dict[tuple[int, datetime], int | None]:
    """Map each fix (by seq and time) to its trip: the trip under way, else an ended trip whose window holds it."""
    from dispatch import trips

    if trip is not None:
        return {_key(f): trip.id for f in fixes}
    return {_key(f): trips.backlog_trip(candidates, device, f.ts) for f in fixes}


def _store(session: Session, device: Device, fixes: list[Fix], trip_ids: dict, result: IngestResult, *,
           now: datetime) -> list[Fix]:
    """Insert the fixes in one statement; return the new ones and count in ``result`` those reusing a seq."""
    raw = RawSQL(session)
    received_at = raw.when(now)
    bound = [raw.when(f.ts) for f in fixes]
    rows = [(device.id, f.seq, trip_ids[_key(f)], ts, received_at, f.lat, f.lon, f.accuracy_m, f.speed_mps,
             f.heading_deg, f.altitude_m, f.battery_pct, f.mock) for f, ts in zip(fixes, bound)]
    new = raw.insert_fixes(rows)
    result.reused += len(_reuses(new))
    return [f for f, ts in zip(fixes, bound) if (device.id, f.seq, ts) in new]


def _reuses(new: dict[tuple[int, int, Any], bool]) -> set[tuple[int, int, Any]]:
    """Return the new fixes that reuse a seq: of k new fixes with one device and seq, all k if
    one was stored before this statement, else all but the earliest.

    The database marks a row that found its seq stored at another time; whether it sees the
    rows inserted earlier by the same statement depends on the backend (SQLite does,
    PostgreSQL does not): at least k - 1 marked means the database counted them.
    """
    groups: dict[tuple[int, int], list] = {}
    for key in new:
        groups.setdefault(key[:2], []).append(key)
    out = set()
    for keys in groups.values():
        marked = [k for k in keys if new[k]]
        out.update(marked if len(marked) >= len(keys) - 1 else sorted(keys, key=lambda k: k[2])[1:])
    return out


def _touch_device(session: Session, device: Device, fresh: list[Fix], *, now: datetime) -> None:
    """Record when the device was last seen and, if newer than what is stored, its position.

    One UPDATE whose CASE keeps the newest position, so a late backlog never moves the
    device back and concurrent batches need no read first.
    """
    raw = RawSQL(session)
    if fresh:
        newest = max(fresh, key=lambda f: f.ts)
        raw.touch_devices([(raw.when(now), raw.when(newest.ts), newest.lat, newest.lon, newest.seq, device.id)], [])
    else:
        raw.touch_devices([], [(raw.when(now), device.id)])


class ActiveTrips:
    """Which trip each device is reporting for, remembered while no trip changes.

    Looking the trip up for every fix costs more than storing the fix. Every change to a
    trip moves its ``updated_at``, so one indexed ``max(updated_at)`` says whether any trip
    changed since an entry was made: while it has not, entries stand (up to ``max_age_s``);
    once it has, they are looked up again (and a trip is loaded again only if its own
    ``updated_at`` moved). A status change made in this process also forgets them at once.
    ``max_age_s`` bounds the one case the watermark misses: another process committing a
    change stamped earlier than the newest stamp already read (commit order is not clock
    order). ``ttl_s`` is the shortest an entry stands even when the watermark moves: under a
    stream of changes, a fix in that window still belongs to the trip's time window.
    """

    def __init__(self, ttl_s: float = 1.0, max_age_s: float = 10.0, hidden=None) -> None:
        self.ttl_s, self.max_age_s = ttl_s, max(ttl_s, max_age_s)
        # (session, device ids) -> the ids of those whose fixes with no trip are refused (off duty); None: none are.
        self.hidden = hidden
        self._entries: dict[int, tuple[datetime, Any, Any]] = {}  # device id -> (made at, trip, watermark)

    def _fresh(self, hit, now: datetime, mark) -> bool:
        """Say whether an entry still stands at ``now`` with the trips' watermark at ``mark``."""
        if hit is None:
            return False
        age_s = (now - hit[0]).total_seconds()
        return age_s < self.ttl_s or (mark is not None and hit[2] == mark and age_s < self.max_age_s)

    @staticmethod
    def _watermark(session: Session):
        """Return the newest ``updated_at`` of any trip as the driver gives it (an index lookup).

        Only compared for equality, so the raw value serves; plain SQL skips the ORM's
        statement handling, which costs more than the query.
        """
        return session.connection().exec_driver_sql("SELECT max(updated_at) FROM trip").scalar()

    def get(self, session: Session, device: Device, *, now: datetime):
        """Return the device's trip under way (detached, read-only), or None."""
        return self.get_many(session, [device], now=now)[device.id]

    def get_many(self, session: Session, devices: Iterable, *, now: datetime) -> dict[int, Any]:
        """Return {device id: its trip under way or None}, one query for all not remembered."""
        from dispatch.models import Trip
        from dispatch.trips import ACTIVE

        out: dict[int, Any] = {}
        missing: dict[int, Any] = {}
        mark = self._watermark(session) if self.ttl_s > 0 else None  # read before any entry is made
        for device in devices:
            hit = self._entries.get(device.id)
            if self._fresh(hit, now, mark):
                out[device.id] = hit[1]
            else:
                missing[device.id] = device
        if not missing:
            return out
        escorts = {d.escort_user_id for d in missing.values() if d.escort_user_id is not None}
        mine = Trip.device_id.in_(list(missing))
        if escorts:
            mine = or_(mine, Trip.escort_user_id.in_(sorted(escorts)))
        # Which trip and which version of it: a light query. The same order as
        # trips.active_trip_for_device (the latest started wins).
        heads = session.exec(select(Trip.id, Trip.updated_at, Trip.device_id, Trip.escort_user_id)
                             .where(Trip.status.in_(ACTIVE), mine).order_by(Trip.started_at.desc())).all()
        chosen: dict[int, Any] = {}
        for device in missing.values():
            chosen[device.id] = next((h for h in heads if h.device_id == device.id or (
                device.escort_user_id is not None and h.escort_user_id == device.escort_user_id)), None)
        known = {}
        for device_id, head in chosen.items():
            old = self._entries.get(device_id)
            if head is not None and old is not None and old[1] is not None and old[1].id == head.id \
                    and old[1].updated_at == head.updated_at:
                known[head.id] = old[1]  # unchanged since it was loaded: every change moves updated_at
        wanted = {h.id for h in chosen.values() if h is not None} - set(known)
        if wanted:
            for trip in session.exec(select(Trip).where(Trip.id.in_(sorted(wanted)))).all():
                session.expunge(trip)
                known[trip.id] = trip
        for device_id, head in chosen.items():
            trip = known.get(head.id) if head is not None else None
            self._entries[device_id] = (now, trip, mark)
            out[device_id] = trip
        return out

    def forget(self) -> None:
        """Drop every entry (a trip changed status here)."""
        self._entries.clear()


def _signal_back(session: Session, trip, result: IngestResult, *, now: datetime) -> None:
    """Clear a ``signal_lost`` alert: a fresh fix is the signal back."""
    from dispatch import alerts

    if not alerts.is_open(session, trip.id, trip.device_id, "signal_lost"):
        return
    alert = alerts.auto_resolve(session, trip_id=trip.id, device_id=trip.device_id, kind="signal_lost",
                                detail={}, at=now, now=now)
    if alert is not None:
        result.alerts.append(alert)


def _detect(session: Session, trip, fixes: list[Fix], result: IngestResult, *, now: datetime, zone_cache) -> None:
    """Run detection for the trip's new fixes; a detector fault never loses the stored fixes."""
    from tracking import detection

    try:
        with session.begin_nested():
            detection.run(session, trip, fixes, result, now=now, zone_cache=zone_cache)
    except Exception:  # noqa: BLE001  (fixes are stored and acknowledged whatever detection does)
        log.exception("detection failed for trip %s", trip.id)
        detection.note_received(session, trip.id, now)



# --- group commit: the /device path -------------------------------------------------------
#
# One fix a message from hundreds of devices: run one at a time, each costs a session, a
# dozen statements and a commit. Gathered for a few milliseconds, the fixes of every device
# that sent one go through the same steps in one transaction: one INSERT, one UPDATE of the
# devices, one read and one write of the trips' detection states, one commit. Each caller
# waits for the commit of its own fixes before it acknowledges them.


@dataclass(eq=False)
class _Pending:
    """One caller's payloads, waiting for the group that carries them."""

    device: Any
    raws: list
    now: datetime
    limits: Limits
    trip_cache: "ActiveTrips | None"
    zone_cache: Any
    result: IngestResult = field(default_factory=IngestResult)
    error: BaseException | None = None
    lead: bool = False
    done: threading.Event = field(default_factory=threading.Event)
    began: float = field(default_factory=time.perf_counter)
    fixes: list[Fix] = field(default_factory=list)
    trip: Any = None
    trip_ids: dict = field(default_factory=dict)
    fresh: list[Fix] = field(default_factory=list)
    mine: list[Fix] = field(default_factory=list)
    bound: dict = field(default_factory=dict)  # (seq, ts) -> the fix's timestamp as the driver binds it
    bound_now: Any = None  # the receipt time, likewise


class GroupCommit:
    """Gathers concurrent callers' fixes for a few milliseconds and commits them in one transaction.

    No thread of its own: the first caller to find no group forming leads one. It gathers
    (see ``_gather``; other callers queue meanwhile), runs the queue in one transaction, wakes
    the callers, and hands the lead to the first caller that queued after it took its group.
    Under gevent the waits are cooperative; under threads they are plain waits. A failed
    group is run again caller by caller, so one bad caller fails alone; a database that is
    away fails every caller at once (the devices send again).
    """

    def __init__(self, engine: Engine, *, window_s: float = 0.010, max_group: int = 500) -> None:
        self.engine, self.window_s, self.max_group = engine, window_s, max_group
        self._lock = threading.Lock()
        self._queue: list[_Pending] = []
        self._leading = False
        self.groups = 0  # how many transactions ran (the tests read it)

    def submit(self, pending: _Pending) -> IngestResult:
        """Queue the payloads, wait until they are committed, and return their result (or raise)."""
        with self._lock:
            self._queue.append(pending)
            if not self._leading:
                self._leading = pending.lead = True
        if not pending.lead:
            pending.done.wait()
        if pending.lead:
            self._lead()
        if pending.error is not None:
            raise pending.error
        return pending.result

    def _gather(self) -> None:
        """Let the fixes that are already arriving join the group, then return.

        Under gevent: until the event loop has nothing else to do (every message read so far
        has been handed in), at most ``window_s``. Under threads: ``window_s``.
        """
        if not _gevent_patched():
            time.sleep(self.window_s)
            return
        import gevent

        gevent.sleep(0.001)  # what is on the wire now is read in this millisecond
        with gevent.Timeout(self.window_s, False):
            gevent.idle()

    def _lead(self) -> None:
        """Gather, run one group, pass the lead on."""
        self._gather()
        with self._lock:
            group, self._queue = self._queue[:self.max_group], self._queue[self.max_group:]
        try:
            self._run(group)
        except BaseException as exc:  # e.g. this greenlet was killed: no caller waits forever
            for pending in group:
                pending.error = pending.error or exc
            raise
        finally:
            with self._lock:
                nxt = self._queue[0] if self._queue else None
                self._leading = nxt is not None
                if nxt is not None:
                    nxt.lead = True
            for pending in group:
                if not pending.lead:
                    pending.done.set()
            if nxt is not None:
                nxt.done.set()

    def _run(self, group: list[_Pending]) -> None:
        """Commit the group in one transaction; if that fails, give each caller its own."""
        self.groups += 1
        try:
            self._transact(group)
        except DB_DOWN as exc:  # every caller answers "send again later"; trying each would only wait again
            for pending in group:
                pending.error = exc
            return
        except Exception:  # noqa: BLE001  (one by one, each caller gets its own result or error)
            if len(group) > 1:
                log.warning("group of %d failed; running them one by one", len(group), exc_info=True)
            self._one_by_one(group)
            return
        _published(group)

    def _transact(self, group: list[_Pending]) -> None:
        """Run the group's pipeline in one transaction and commit it (no publishing)."""
        from app.db import session_scope

        with session_scope(self.engine) as session:
            _accept_group(session, group)

    def _one_by_one(self, group: list[_Pending]) -> None:
        """Run each caller's payloads in a transaction of its own (the path without grouping)."""
        from app.db import session_scope

        for pending in group:
            pending.result = IngestResult()
            try:
                with session_scope(self.engine) as session:
                    pending.result = accept_payloads(session, pending.device, pending.raws, now=pending.now,
                                                     limits=pending.limits, trip_cache=pending.trip_cache,
                                                     zone_cache=pending.zone_cache)
            except Exception as exc:  # noqa: BLE001  (handed to the caller, who answers the device)
                pending.error = exc


# The database is away (the /device handlers answer these with "send again later").
DB_DOWN = (sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.TimeoutError)

# The longest a group gathers before it runs (under gevent it runs as soon as the event
# loop is idle): long enough for a hundred devices' fixes, short against a 500 ms target.
GATHER_S = 0.010


def _gevent_patched() -> bool:
    """Say whether this process runs on gevent's monkey-patched threads (the served app does)."""
    try:
        from gevent import monkey
    except ImportError:  # pragma: no cover  (gevent is a dependency)
        return False
    return monkey.is_module_patched("threading")


_groups: "weakref.WeakKeyDictionary[Engine, GroupCommit]" = weakref.WeakKeyDictionary()
_groups_lock = threading.Lock()


def group_for(engine: Engine) -> GroupCommit:
    """Return the engine's group committer (one per engine in a process)."""
    with _groups_lock:
        group = _groups.get(engine)
        if group is None:
            # Threads (the tests' mode) gather only what queues while a group runs: no added wait.
            group = _groups[engine] = GroupCommit(engine, window_s=GATHER_S if _gevent_patched() else 0.0)
        return group


def accept_grouped(engine: Engine, device: Device, raws: list[Any], *, now: datetime, limits: Limits = Limits(),
                   trip_cache: "ActiveTrips | None" = None, zone_cache=None) -> IngestResult:
    """``accept_payloads`` committed together with other devices' concurrent fixes; returns once committed."""
    return group_for(engine).submit(_Pending(device=device, raws=raws, now=now, limits=limits,
                                             trip_cache=trip_cache, zone_cache=zone_cache))


def _accept_group(session: Session, group: list[_Pending]) -> None:
    """Run every caller's payloads through the pipeline in one transaction (no commit, no publish)."""
    from dispatch import present
    from tracking import detection

    work = []
    for pending in group:
        result = pending.result
        if len(pending.raws) > MAX_BATCH:
            result.rejected.extend({"seq": raw_seq(r), "error": f"batch larger than {MAX_BATCH}"} for r in pending.raws)
            continue
        fixes = check_times(parse_payloads(pending.raws, result), result, now=pending.now, limits=pending.limits)
        pending.fixes = _dedupe_in_batch(fixes, result)
        if pending.fixes:
            work.append(pending)
    if not work:
        return
    now = max(p.now for p in work)
    cache = work[0].trip_cache or ActiveTrips(ttl_s=0)
    trips_by_device = cache.get_many(session, [p.device for p in work], now=now)
    for pending in work:
        pending.trip = trips_by_device[pending.device.id]
    candidates = _backlog(session, [(p.device, p.trip, p.fixes) for p in work])
    for pending in work:
        pending.trip_ids = _assign_trips(pending.device, pending.trip, pending.fixes, candidates)
    idle = [p for p in work if p.trip is None]
    if idle and work[0].trip_cache is not None:
        kept = _refuse_off_duty(session, work[0].trip_cache, [(p.device, p.fixes, p.trip_ids, p.result) for p in idle])
        for pending, fixes in zip(idle, kept):
            pending.fixes = fixes
        work = [p for p in work if p.fixes]
        if not work:
            return
    raw = RawSQL(session)
    new = _store_many(raw, work)
    reused = _reuses(new)
    jobs = []
    for pending in work:
        result = pending.result
        result.accepted.extend(f.seq for f in pending.fixes)
        device_id, bound, trip_ids = pending.device.id, pending.bound, pending.trip_ids
        fresh = []
        for f in pending.fixes:
            key = (device_id, f.seq, bound[_key(f)])
            if new.pop(key, None) is not None:  # popped: a repeat in a later batch is not fresh
                fresh.append(f)
                result.reused += key in reused
        result.stored = [present.fix_public(f, device_id, trip_ids[_key(f)]) for f in sorted(fresh, key=lambda f: f.ts)]
        pending.fresh = fresh
        if pending.trip is not None:
            result.trip_id = pending.trip.id
            pending.mine = [f for f in fresh if trip_ids[_key(f)] == pending.trip.id]
            if pending.mine:
                jobs.append((pending.trip, pending.mine, result, pending.now))
    _touch_many(raw, work)
    _signal_back_many(session, raw, [p for p in work if p.mine])
    detection.run_many(session, jobs, zone_cache=work[0].zone_cache, raw=raw)


def _store_many(raw: RawSQL, work: list[_Pending]) -> dict[tuple[int, int, Any], bool]:
    """Insert every caller's fixes in one statement; return the new ones as ``RawSQL.insert_fixes`` does.

    Each timestamp is bound once: ``pending.bound`` keeps the fixes' by (seq, ts), and
    ``pending.bound_now`` the receipt time, for the device update that follows.
    """
    when = raw.when
    rows = []
    for p in work:
        device_id, trip_ids = p.device.id, p.trip_ids
        p.bound = bound = {_key(f): when(f.ts) for f in p.fixes}
        received_at = p.bound_now = when(p.now)
        rows.extend((device_id, f.seq, trip_ids[key], bound[key], received_at, f.lat, f.lon, f.accuracy_m,
                     f.speed_mps, f.heading_deg, f.altitude_m, f.battery_pct, f.mock)
                    for f, key in ((f, _key(f)) for f in p.fixes))
    return raw.insert_fixes(rows)


def _touch_many(raw: RawSQL, work: list[_Pending]) -> None:
    """Record every device's last contact and, where newer than stored, its position: one UPDATE each kind."""
    moved, seen = [], []
    for pending in work:
        if pending.fresh:
            newest = max(pending.fresh, key=lambda f: f.ts)
            moved.append((pending.bound_now, pending.bound[_key(newest)], newest.lat, newest.lon, newest.seq,
                          pending.device.id))
        else:
            seen.append((pending.bound_now, pending.device.id))
    raw.touch_devices(moved, seen)


def _signal_back_many(session: Session, raw: RawSQL, live: list[_Pending]) -> None:
    """Clear the open ``signal_lost`` alerts of these trips (one query to find them)."""
    from dispatch import alerts

    keys = {alerts.open_key(p.trip.id, p.trip.device_id, "signal_lost"): p for p in reversed(live)}
    for key in raw.open_keys(list(keys)):
        pending = keys[key]
        alert = alerts.auto_resolve(session, trip_id=pending.trip.id, device_id=pending.trip.device_id,
                                    kind="signal_lost", detail={}, at=pending.now, now=pending.now)
        if alert is not None:
            pending.result.alerts.append(alert)


def _published(group: list[_Pending]) -> None:
    """Count and publish the callers' committed results (a failed emit never un-acks a stored fix)."""
    from app import metrics, realtime
    from dispatch import alerts

    stored = rejected = reused = 0
    done = time.perf_counter()
    for pending in group:
        result = pending.result
        metrics.ingest_seconds.observe(done - pending.began)
        stored, rejected, reused = stored + len(result.stored), rejected + len(result.rejected), reused + result.reused
        for alert in result.alerts:
            metrics.alerts_raised.labels(alert.kind).inc()
        try:
            realtime.publish_ingest(result, alerts.public)
        except Exception:  # noqa: BLE001  (the fixes are committed; dispatchers get them in the next snapshot)
            log.exception("publishing ingested fixes failed")
    metrics.fixes_stored.inc(stored)
    metrics.fixes_rejected.inc(rejected)
    metrics.fix_seq_reused.inc(reused)
