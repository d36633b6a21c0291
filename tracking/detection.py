"""The detection shell around the pure detectors: load trips' states, step through new fixes, save them.

Trips are opaque here: their plans come from, and their events go to, the ``Trips``
interface the pipeline is given (``tracking.pipeline``), so tracking imports nothing above it.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from datetime import datetime
from threading import Lock
from typing import Any, Sequence

import orjson
from sqlmodel import Session

from tracking import detectors
from tracking.fix import Fix
from tracking.rawsql import RawSQL

log = logging.getLogger(__name__)

# trip id -> (the state's JSON text as stored, the state it decodes to): a stored text equal
# to the one remembered needs no decoding. The text is compared, so another process's
# write is always seen.
_STATE_CACHE_SIZE = 20_000
_states: OrderedDict[int, tuple[str, detectors.DetectionState]] = OrderedDict()
_states_lock = Lock()


def run(session: Session, writer: RawSQL, trips: Any, jobs: Sequence[tuple[Any, Sequence[Fix], datetime]]
        ) -> list[tuple[list, list, dict | None]]:
    """Run detection for many batches at once: ``jobs`` is [(trip, new fixes, now)], in arrival order.

    Returns (alerts, notices, live ETA or None) for each job. One read of every trip's state
    (and pickup leg) and one write, whatever the number of trips; the jobs of one trip step
    through its state in turn. A job whose detector or alerts fail leaves its trip's state as
    it was (its fixes stay stored and still count as received). ``trips`` is the pipeline's
    ``Trips`` interface; the ETA is its ``estimate`` from what is in memory here.
    """
    trip_ids = sorted({trip.id for trip, *_ in jobs})
    rows = writer.track_rows(trip_ids)
    stored = {trip_id: _decoded(trip_id, text) for trip_id, text, _leg in rows}
    legs = {trip_id: leg for trip_id, _text, leg in rows if leg is not None}
    states = {trip_id: stored.get(trip_id) or detectors.DetectionState() for trip_id in trip_ids}
    received: dict[int, datetime] = {}
    out: list[tuple[list, list, dict | None]] = []
    for trip, fixes, now in jobs:
        # Every trip here has a fresh fix: its row's updated_at moves whatever detection does
        # (the sweep's signal-lost clock reads it).
        received[trip.id] = max(now, received.get(trip.id, now))
        try:
            plan, settings = trips.plan(session, trip, now=now)
            state, events = advance(states[trip.id], newer_than_detected(states[trip.id], fixes), plan, settings)
        except Exception:  # noqa: BLE001  (the fixes are stored and acknowledged whatever detection does)
            log.exception("detection failed for trip %s", trip.id)
            out.append(([], [], None))
            continue
        raised: tuple[list, list] | None = ([], [])
        if events:
            raised = _apply_safely(session, trips, trip, events, now=now, batch=len(fixes) > 1)
        if raised is None:
            out.append(([], [], None))
            continue
        states[trip.id] = state
        out.append((*raised, _estimate(trips, trip, state, plan, settings, fixes, legs.get(trip.id), now)))
    _save_states(writer, {t: states[t] for t in received}, received, existing=set(stored))
    return out


def _estimate(trips: Any, trip: Any, state: detectors.DetectionState, plan: detectors.TripPlan,
              settings: detectors.DetectionSettings, fixes: Sequence[Fix], leg: str | None,
              now: datetime) -> dict | None:
    """Return the trip's live ETA after these fixes (``trips.estimate``), None for a backlog or a failure."""
    newest = max(fixes, key=lambda f: f.ts)
    if state.last_ts is not None and newest.ts < state.last_ts:
        return None  # a backlog flushed late: the position on screen is a newer one's
    try:
        return trips.estimate(trip, state, plan, settings, newest, leg, now=now)
    except Exception:  # noqa: BLE001  (an ETA is a nicety on the positions; never a failed ingest)
        log.exception("live ETA failed for trip %s", trip.id)
        return None


def newer_than_detected(state: detectors.DetectionState, fixes: Sequence[Fix]) -> list[Fix]:
    """Drop the fixes not newer than the last one detection used (a backlog, a repeat): stored, never judged."""
    if state.last_ts is None:
        return list(fixes)
    return [f for f in fixes if f.ts > state.last_ts]


def advance(state: detectors.DetectionState, fixes: Sequence[Fix], plan: detectors.TripPlan,
            settings: detectors.DetectionSettings) -> tuple[detectors.DetectionState, list[detectors.Event]]:
    """Filter and step the detector through fixes in time order; return the new state and the events (no I/O)."""
    events = []
    for fix in sorted(fixes, key=lambda f: (f.ts, f.seq)):
        state, fix_events, _skipped = detectors.process(state, fix, plan, settings)
        events.extend(fix_events)
    return state, events


def _apply_safely(session: Session, trips: Any, trip: Any, events: list, *, now: datetime,
                  batch: bool) -> tuple[list, list] | None:
    """Hand events to ``trips.apply`` in a savepoint; on failure log and return None (nothing was told)."""
    try:
        with session.begin_nested():
            return trips.apply(session, trip, events, now=now, batch=batch)
    except Exception:  # noqa: BLE001  (a detection fault never loses the stored fixes)
        log.exception("detection failed for trip %s", trip.id)
        return None


def _decoded(trip_id: int, text: str | None) -> detectors.DetectionState | None:
    """Return the state stored as ``text``, decoding it only if it is not the text remembered."""
    if text is None:
        return None
    with _states_lock:
        hit = _states.get(trip_id)
    if hit is not None and hit[0] == text:
        return hit[1]
    state = detectors.DetectionState.from_dict(orjson.loads(text))
    _remember(trip_id, text, state)
    return state


def _remember(trip_id: int, text: str, state: detectors.DetectionState) -> None:
    """Remember a trip's state with its stored text (least recently used first out)."""
    with _states_lock:
        _states[trip_id] = (text, state)
        _states.move_to_end(trip_id)
        while len(_states) > _STATE_CACHE_SIZE:
            _states.popitem(last=False)


def _save_states(raw: RawSQL, states: dict, at: dict[int, datetime], *, existing: set[int]) -> None:
    """Write the trips' detection states, last fix received and last detected: one UPDATE for the rows
    there were, one INSERT for new ones.

    The JSON text is made here, once, and stored as it is, so that the text remembered is
    exactly the text stored (and read back the next time).
    """
    texts = {trip_id: state.to_json() for trip_id, state in states.items()}
    when = raw.when
    raw.save_track_states(
        old=((text, when(at[trip_id]), when(states[trip_id].last_ts), trip_id)
             for trip_id, text in texts.items() if trip_id in existing),
        new=((trip_id, text, when(at[trip_id]), when(states[trip_id].last_ts))
             for trip_id, text in texts.items() if trip_id not in existing),
    )
    for trip_id, text in texts.items():
        _remember(trip_id, text, states[trip_id])
