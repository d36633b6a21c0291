"""The way of a fix: one pipeline of small steps over a batch of devices' payloads.

An HTTP request is a batch of one device; a Socket.IO group is many devices' batches in
one transaction. Each step takes the batches and returns them as it has made them; the
pipeline neither commits nor publishes (the shell above it, ``dispatch.ingest``, does) and
sees trips only through the small ``Trips`` interface it is given.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import Any, Callable, Iterable, Mapping, NamedTuple, Protocol, Sequence

from sqlmodel import Session

from tracking import detection
from tracking.detectors import DetectionSettings, Event, TripPlan
from tracking.fix import Fix
from tracking.rawsql import RawSQL
from tracking.schemas import MAX_BATCH, parse_fix, raw_seq

Key = tuple[int, datetime]  # what makes a fix of one device the same fix: its seq and its time


@dataclass(frozen=True)
class Limits:
    """How far from the server's clock a fix's timestamp may be."""

    max_future_skew_s: float = 120.0
    max_fix_age_s: float = 7 * 24 * 3600.0


class Trips(Protocol):
    """What tracking needs of trips; ``dispatch.tripbook.TripBook`` provides it.

    A trip here is opaque but for ``id``; every call runs in the pipeline's transaction.
    """

    def under_way(self, session: Session, devices: Sequence[Any], *, now: datetime) -> dict[int, Any]:
        """Return {device id: the trip it reports for now, or None}."""

    def backlog(self, session: Session, late: Sequence[tuple[Any, Sequence[Fix]]]) -> Callable[[Any, datetime], Any]:
        """Return a lookup (device, fix time) -> id of the ended trip whose window holds the fix, or None."""

    def off_duty(self, session: Session, device_ids: Sequence[int]) -> set[int]:
        """Return the ids among these devices whose fixes outside any trip are refused (an escort off duty)."""

    def signal_back(self, session: Session, live: Sequence[tuple[Any, datetime]]) -> dict[int, list]:
        """Clear the open signal-lost alerts of these (trip, now); return {trip id: alerts changed}."""

    def plans(self, session: Session, trips: Sequence[Any], *, now: datetime) -> dict[int, tuple[TripPlan,
                                                                                            DetectionSettings]]:
        """Return {trip id: (plan, settings)} for detection."""

    def apply(self, session: Session, trip: Any, events: list[Event], *, now: datetime,
              batch: bool) -> tuple[list, list]:
        """Turn detector events into alerts and notices in this transaction; return (alerts, notices)."""

    def estimate(self, trip: Any, state: Any, plan: TripPlan, settings: DetectionSettings, fix: Fix,
                 leg: str | None, *, now: datetime) -> dict | None:
        """Return the trip's live ETA after ``fix`` from what is in memory (no query, no router), or None.

        ``state`` is the detection state after the fix, ``leg`` the stored pickup leg's JSON text.
        """


class Stored(NamedTuple):
    """A fix stored by this batch, with the trip it was filed under."""

    fix: Fix
    trip_id: int | None


class Batch(NamedTuple):
    """One device's payloads on their way: what the steps have made of them so far.

    A NamedTuple, not a frozen dataclass: every step makes a new one with ``_replace``,
    several times per fix on the hot path, and ``dataclasses.replace`` costs ten times more.
    """

    device: Any  # needs ``id`` and ``escort_user_id`` (a Device or a DeviceRef)
    now: datetime
    limits: Limits = Limits()
    raws: tuple = ()  # payloads not yet parsed
    fixes: tuple[Fix, ...] = ()  # valid, in time, once each: what is stored
    accepted: tuple[int, ...] = ()
    rejected: tuple[dict, ...] = ()
    trip: Any = None  # the trip under way
    trip_ids: Mapping[Key, Any] = MappingProxyType({})
    stored: tuple[Stored, ...] = ()  # the new rows, in arrival order
    reused: int = 0  # new fixes reusing a seq the device sent at another time (counted in /metrics)
    alerts: tuple = ()
    notices: tuple = ()
    eta: dict | None = None  # the trip's live ETA after these fixes (pushed with the newest)

    @property
    def detectable(self) -> tuple[Fix, ...]:
        """Return the new fixes of the trip under way, the ones detection steps through."""
        if self.trip is None:
            return ()
        return tuple(s.fix for s in self.stored if s.trip_id == self.trip.id)


@dataclass(frozen=True)
class Outcome:
    """What became of one device's batch: acks, refusals, new rows and what detection raised."""

    device_id: int
    accepted: tuple[int, ...]
    rejected: tuple[dict, ...]
    stored: tuple[Stored, ...]  # in time order
    trip_id: int | None
    alerts: tuple
    notices: tuple
    reused: int
    eta: dict | None = None  # the trip's live ETA after the batch: eta_at, left_m, eta_to, eta_source


@dataclass(frozen=True)
class Context:
    """What the steps share: the transaction, the writer of the track tables, trips."""

    session: Session
    writer: RawSQL
    trips: Trips


def key(fix: Fix) -> Key:
    """Return what makes a fix the same fix: its seq and its time (the device is the batch's)."""
    return fix.seq, fix.ts


def validate(ctx: Context, batches: list[Batch]) -> list[Batch]:
    """Parse raw payloads into fixes; refuse a batch above MAX_BATCH whole, and each bad payload."""
    out = []
    for b in batches:
        if not b.raws:  # decoded already (a tracker protocol's fixes): nothing to parse
            out.append(b)
            continue
        if len(b.raws) > MAX_BATCH:
            out.append(b._replace(raws=(), rejected=b.rejected + tuple(
                {"seq": raw_seq(r), "error": f"batch larger than {MAX_BATCH}"} for r in b.raws)))
            continue
        fixes, rejected = list(b.fixes), list(b.rejected)
        for raw in b.raws:
            try:
                fixes.append(parse_fix(raw))
            except ValueError as exc:
                rejected.append({"seq": raw_seq(raw), "error": str(exc)})
        out.append(b._replace(raws=(), fixes=tuple(fixes), rejected=tuple(rejected)))
    return out


def check_times(ctx: Context, batches: list[Batch]) -> list[Batch]:
    """Refuse fixes dated in the future or absurdly old; late ones within the limit pass."""
    out = []
    for b in batches:
        latest = b.now + timedelta(seconds=b.limits.max_future_skew_s)
        earliest = b.now - timedelta(seconds=b.limits.max_fix_age_s)
        kept, rejected = [], list(b.rejected)
        for fix in b.fixes:
            if fix.ts > latest:
                rejected.append({"seq": fix.seq, "error": "ts: timestamp is in the future"})
            elif fix.ts < earliest:
                rejected.append({"seq": fix.seq, "error": "ts: timestamp is too old"})
            else:
                kept.append(fix)
        out.append(b if len(kept) == len(b.fixes) else b._replace(fixes=tuple(kept), rejected=tuple(rejected)))
    return out


def deduplicate(ctx: Context, batches: list[Batch]) -> list[Batch]:
    """Keep the first of repeated fixes (same seq and time) in a batch; every one is acknowledged.

    The same seq at another time is another fix: a counter that started again.
    """
    out = []
    for b in batches:
        seen: set[Key] = set()
        kept = []
        for fix in b.fixes:
            if key(fix) not in seen:
                seen.add(key(fix))
                kept.append(fix)
        out.append(b._replace(fixes=tuple(kept), accepted=b.accepted + tuple(f.seq for f in b.fixes)))
    return out


def assign_trips(ctx: Context, batches: list[Batch]) -> list[Batch]:
    """File each fix under the trip under way, else under the ended trip whose window holds it (one query each)."""
    work = [b for b in batches if b.fixes]
    if not work:
        return batches
    now = max(b.now for b in work)
    under_way = ctx.trips.under_way(ctx.session, [b.device for b in work], now=now)
    late = [(b.device, b.fixes) for b in work if under_way[b.device.id] is None]
    ended = ctx.trips.backlog(ctx.session, late) if late else None
    out = []
    for b in batches:
        if not b.fixes:
            out.append(b)
            continue
        trip = under_way[b.device.id]
        if trip is not None:
            trip_ids = {key(f): trip.id for f in b.fixes}
        else:
            trip_ids = {key(f): ended(b.device, f.ts) for f in b.fixes}
        out.append(b._replace(trip=trip, trip_ids=trip_ids))
    return out


# The refusal of a fix from an escort who is off duty with no trip: not stored, not shown, not to be sent again.
OFF_DUTY = "off duty: your position is not shared while you have no trip; switch on duty to share it"


def refuse_off_duty(ctx: Context, batches: list[Batch]) -> list[Batch]:
    """Refuse the fixes of off-duty escorts that belong to no trip (one query for all such devices).

    A late fix that falls in an ended trip's window is that trip's, and kept. Runs before
    ``deduplicate`` acknowledges anything: what is refused is never acknowledged.
    """
    loose = [b.device.id for b in batches if b.trip is None and any(t is None for t in b.trip_ids.values())]
    hidden = ctx.trips.off_duty(ctx.session, loose) if loose else set()
    if not hidden:
        return batches
    out = []
    for b in batches:
        if b.device.id not in hidden:
            out.append(b)
            continue
        kept = tuple(f for f in b.fixes if b.trip_ids[key(f)] is not None)
        refused = tuple({"seq": f.seq, "error": OFF_DUTY} for f in b.fixes if b.trip_ids[key(f)] is None)
        out.append(b._replace(fixes=kept, rejected=b.rejected + refused))
    return out


def store(ctx: Context, batches: list[Batch]) -> list[Batch]:
    """Write every batch's fixes and the devices' last contact through the one writer; keep the new rows."""
    work = [b for b in batches if b.fixes]
    if not work:
        return batches
    new = iter(ctx.writer.store([(b.device.id, b.now, [(f, b.trip_ids[key(f)]) for f in b.fixes]) for b in work]))
    out = []
    for b in batches:
        if not b.fixes:
            out.append(b)
            continue
        rows = next(new)  # this batch's new rows: a repeat of an earlier batch's fix is not new
        stored = tuple(Stored(f, b.trip_ids[key(f)]) for f, _ in rows)
        out.append(b._replace(stored=stored, reused=sum(1 for _, reused in rows if reused)))
    return out


def signal_back(ctx: Context, batches: list[Batch]) -> list[Batch]:
    """Clear the trips' open ``signal_lost`` alerts: a fresh fix is the signal back."""
    live = [(b.trip, b.now) for b in batches if b.detectable]
    if not live:
        return batches
    changed = ctx.trips.signal_back(ctx.session, live)
    return [b._replace(alerts=b.alerts + tuple(changed.pop(b.trip.id, ()))) if b.detectable else b
            for b in batches]


def detect(ctx: Context, batches: list[Batch]) -> list[Batch]:
    """Step each trip's detector through its new fixes and turn its events into alerts (``tracking.detection``)."""
    jobs = [(i, b.trip, b.detectable, b.now) for i, b in enumerate(batches) if b.detectable]
    if not jobs:
        return batches
    raised = detection.run(ctx.session, ctx.writer, ctx.trips, [j[1:] for j in jobs])
    out = list(batches)
    for (i, *_), (alerts, notices, eta) in zip(jobs, raised):
        out[i] = out[i]._replace(alerts=out[i].alerts + tuple(alerts), notices=out[i].notices + tuple(notices),
                                 eta=eta)
    return out


STEPS: tuple[Callable[[Context, list[Batch]], list[Batch]], ...] = (
    validate, check_times, assign_trips, refuse_off_duty, deduplicate, store, signal_back, detect,
)


def run(session: Session, batches: Iterable[Batch], *, trips: Trips) -> list[Outcome]:
    """Run batches through every step in one transaction (no commit); return an outcome for each, in order."""
    with RawSQL(session) as writer:
        ctx = Context(session, writer, trips)
        done = list(batches)
        for step in STEPS:
            done = step(ctx, done)
    return [outcome(b) for b in done]


def outcome(b: Batch) -> Outcome:
    """Return what became of a batch."""
    return Outcome(device_id=b.device.id, accepted=b.accepted, rejected=b.rejected,
                   stored=tuple(sorted(b.stored, key=lambda s: s.fix.ts)),
                   trip_id=b.trip.id if b.trip is not None else None, alerts=b.alerts, notices=b.notices,
                   reused=b.reused, eta=b.eta)
