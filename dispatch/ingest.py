"""The shell above the fix pipeline: run it with dispatch's trips, commit, count, publish.

``tracking.pipeline`` does the work in the caller's transaction and turns detector events
into alerts through ``dispatch.tripbook`` in that same transaction; this module commits,
counts in /metrics and hands the committed result to the screens. A failed publication
never turns a committed ingest into an error: the fixes are stored, dispatchers get them in
the next snapshot.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Sequence

from sqlalchemy.engine import Engine
from sqlmodel import Session

from app import metrics, realtime
from dispatch import alerts, present
from dispatch.tripbook import ActiveTrips, TripBook
from dispatch.zones import ZoneCache
from tracking import groupcommit, pipeline
from tracking.fix import Fix
from tracking.pipeline import Batch, Limits, Outcome

__all__ = ["ActiveTrips", "IngestResult", "Limits", "accept", "accept_grouped", "accept_payloads"]

log = logging.getLogger(__name__)


@dataclass
class IngestResult:
    """What happened to a device's batch, as its handler answers it and the screens are told."""

    accepted: list[int] = field(default_factory=list)
    rejected: list[dict] = field(default_factory=list)
    stored: list[dict] = field(default_factory=list)  # the new fixes as dispatchers see them, in time order
    alerts: list[Any] = field(default_factory=list)
    notices: list[dict] = field(default_factory=list)
    trip_id: int | None = None
    reused: int = 0  # new fixes that reuse a seq the device had sent at another time (counted in /metrics)

    @classmethod
    def of(cls, outcome: Outcome) -> "IngestResult":
        """Return the result of a pipeline outcome."""
        stored = [present.fix_public(s.fix, outcome.device_id, s.trip_id) for s in outcome.stored]
        if outcome.eta is not None:
            # The live ETA rides on the trip's newest position: the screens update it from the push.
            newest = next((f for f in reversed(stored) if f["trip_id"] == outcome.trip_id), None)
            if newest is not None:
                newest.update(outcome.eta)
        return cls(accepted=list(outcome.accepted), rejected=list(outcome.rejected), stored=stored,
                   alerts=list(outcome.alerts), notices=list(outcome.notices), trip_id=outcome.trip_id,
                   reused=outcome.reused)


@dataclass(frozen=True)
class Work:
    """One caller's part of a group: the batch and the app's caches."""

    batch: Batch
    trip_cache: ActiveTrips | None = None
    zone_cache: ZoneCache | None = None


def accept_payloads(session: Session, device: Any, raws: list[Any], *, now: datetime, limits: Limits = Limits(),
                    trip_cache: ActiveTrips | None = None, zone_cache: ZoneCache | None = None) -> IngestResult:
    """Run raw device payloads through the pipeline, commit and publish (the HTTP batch of one device)."""
    return _accept(session, Batch(device=device, now=now, limits=limits, raws=tuple(raws)), trip_cache, zone_cache)


def accept(session: Session, device: Any, fixes: Sequence[Fix], *, now: datetime, limits: Limits = Limits(),
           trip_cache: ActiveTrips | None = None, zone_cache: ZoneCache | None = None) -> IngestResult:
    """Run decoded fixes (a tracker protocol's) through the pipeline, commit and publish.

    ``device`` needs only ``id`` and ``escort_user_id`` (a Device or a DeviceRef).
    """
    return _accept(session, Batch(device=device, now=now, limits=limits, fixes=tuple(fixes)), trip_cache, zone_cache)


def _accept(session: Session, batch: Batch, trip_cache, zone_cache) -> IngestResult:
    """Run one batch, commit, count and publish."""
    began = time.perf_counter()
    [outcome] = pipeline.run(session, [batch], trips=TripBook(trip_cache, zone_cache))
    session.commit()
    result = IngestResult.of(outcome)
    publish([(result, began)])
    return result


def accept_grouped(engine: Engine, device: Any, raws: list[Any], *, now: datetime, limits: Limits = Limits(),
                   trip_cache: ActiveTrips | None = None, zone_cache: ZoneCache | None = None) -> IngestResult:
    """``accept_payloads`` committed together with other devices' concurrent fixes; returns once committed."""
    work = pending(device, raws, now=now, limits=limits, trip_cache=trip_cache, zone_cache=zone_cache)
    return groupcommit.group_for(engine, run_group, publish_group).submit(work)


def run_group(session: Session, group: Sequence[groupcommit.Pending]) -> None:
    """Run every caller's batch through the pipeline in one transaction (no commit, no publish)."""
    first: Work = group[0].work
    trips = TripBook(first.trip_cache, first.zone_cache)
    outcomes = pipeline.run(session, [p.work.batch for p in group], trips=trips)
    for pending, outcome in zip(group, outcomes):
        pending.result = IngestResult.of(outcome)


def publish_group(group: Sequence[groupcommit.Pending]) -> None:
    """Count and publish a committed group's results."""
    metrics.ingest_groups.inc()
    publish([(p.result, p.began) for p in group])


def publish(results: Sequence[tuple[IngestResult, float]]) -> None:
    """Count committed results in /metrics and hand them to the screens (a failed emit is logged, never raised).

    ``results`` holds (result, when its work began, by ``time.perf_counter``).
    """
    stored = rejected = reused = 0
    done = time.perf_counter()
    for result, began in results:
        metrics.ingest_seconds.observe(done - began)
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


def pending(device: Any, raws: list[Any], *, now: datetime, limits: Limits = Limits(),
            trip_cache: ActiveTrips | None = None, zone_cache: ZoneCache | None = None) -> groupcommit.Pending:
    """Return a device's payloads as a group committer's pending work."""
    return groupcommit.Pending(Work(Batch(device=device, now=now, limits=limits, raws=tuple(raws)),
                                    trip_cache, zone_cache))


def group_commit(engine: Engine, **options: Any) -> groupcommit.GroupCommit:
    """Return a new group committer running this pipeline (``accept_grouped`` uses the engine's own)."""
    return groupcommit.GroupCommit(engine, run_group, publish_group, **options)
