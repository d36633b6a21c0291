"""The fix pipeline: validate, store once, detect on the trip, hand events on."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Iterable

from sqlalchemy import case, or_, update
from sqlmodel import Session

from tracking.fix import Fix
from tracking.models import Device
from tracking.models import Fix as FixRow
from tracking.schemas import MAX_BATCH, parse_fix, raw_seq

log = logging.getLogger(__name__)


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
    """Store valid fixes once per (device, seq), run detection, commit, then publish.

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
        trip_ids = _assign_trips(session, device, trip, fixes)
        new_seqs = _store(session, device, fixes, trip_ids, now=now)
        result.accepted.extend(f.seq for f in fixes)
        fresh = [f for f in fixes if f.seq in new_seqs]
        _touch_device(session, device, fresh, now=now)
        result.stored = [present.fix_public(f, device.id, trip_ids[f.seq]) for f in sorted(fresh, key=lambda f: f.ts)]
        if trip is not None:
            result.trip_id = trip.id
            mine = [f for f in fresh if trip_ids[f.seq] == trip.id]
            if mine:
                _signal_back(session, trip, result, now=now)
                _detect(session, trip, mine, result, now=now, zone_cache=zone_cache)
    session.commit()
    metrics.ingest_seconds.observe(time.perf_counter() - began)
    metrics.fixes_stored.inc(len(result.stored))
    metrics.fixes_rejected.inc(len(result.rejected))
    for alert in result.alerts:
        metrics.alerts_raised.labels(alert.kind).inc()
    realtime.publish_ingest(result, alerts.public)
    return result


def _dedupe_in_batch(fixes: list[Fix], result: IngestResult) -> list[Fix]:
    """Keep the first of repeated seqs within one batch; the rest are acked, stored once."""
    seen: set[int] = set()
    kept = []
    for fix in fixes:
        if fix.seq in seen:
            result.accepted.append(fix.seq)
            continue
        seen.add(fix.seq)
        kept.append(fix)
    return kept


def _assign_trips(session: Session, device: Device, trip, fixes: list[Fix]) -> dict[int, int | None]:
    """Map each seq to its trip: the trip under way, else an ended trip whose window holds it."""
    from dispatch import trips

    if trip is not None:
        return {f.seq: trip.id for f in fixes}
    out: dict[int, int | None] = {}
    for fix in fixes:
        past = trips.trip_for_backlog(session, device, fix.ts)
        out[fix.seq] = past.id if past is not None else None
    return out


def _insert_ignore(session: Session):
    """Return an INSERT … ON CONFLICT DO NOTHING RETURNING seq for this backend."""
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    table = FixRow.__table__
    return insert(table).on_conflict_do_nothing(index_elements=["device_id", "seq"]).returning(table.c.seq)


def _store(session: Session, device: Device, fixes: list[Fix], trip_ids: dict, *, now: datetime) -> set[int]:
    """Insert the fixes in one statement; return the seqs that were new."""
    rows = [
        {
            "device_id": device.id, "seq": f.seq, "trip_id": trip_ids[f.seq], "ts": f.ts,
            "received_at": now, "lat": f.lat, "lon": f.lon, "accuracy_m": f.accuracy_m,
            "speed_mps": f.speed_mps, "heading_deg": f.heading_deg, "altitude_m": f.altitude_m,
            "battery_pct": f.battery_pct,
        }
        for f in fixes
    ]
    return set(session.execute(_insert_ignore(session), rows).scalars().all())


def _touch_device(session: Session, device: Device, fresh: list[Fix], *, now: datetime) -> None:
    """Record when the device was last seen and, if newer than what is stored, its position.

    One UPDATE whose CASE keeps the newest position, so a late backlog never moves the
    device back and concurrent batches need no read first.
    """
    values: dict[str, Any] = {"last_seen_at": now}
    if fresh:
        newest = max(fresh, key=lambda f: f.ts)
        newer = or_(Device.last_fix_at.is_(None), Device.last_fix_at <= newest.ts)
        values.update(
            last_lat=case((newer, newest.lat), else_=Device.last_lat),
            last_lon=case((newer, newest.lon), else_=Device.last_lon),
            last_seq=case((newer, newest.seq), else_=Device.last_seq),
            last_fix_at=case((newer, newest.ts), else_=Device.last_fix_at),
        )
    session.connection().execute(update(Device).where(Device.id == device.id).values(**values))


class ActiveTrips:
    """Which trip each device is reporting for, remembered for a second.

    Looking the trip up for every fix costs more than storing the fix. A status change made
    in this process forgets the entry at once; one made in another process is seen within
    ``ttl_s``, and a fix in that second still belongs to the trip's window.
    """

    def __init__(self, ttl_s: float = 1.0) -> None:
        self.ttl_s = ttl_s
        self._entries: dict[int, tuple[datetime, Any]] = {}

    def get(self, session: Session, device: Device, *, now: datetime):
        """Return the device's trip under way (detached, read-only), or None."""
        from dispatch import trips

        hit = self._entries.get(device.id)
        if hit is not None and (now - hit[0]).total_seconds() < self.ttl_s:
            return hit[1]
        trip = trips.active_trip_for_device(session, device)
        if trip is not None:
            session.expunge(trip)
        self._entries[device.id] = (now, trip)
        return trip

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

