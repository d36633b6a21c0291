"""The shell around the pure detectors: load the trip's state, step through fixes, save, raise."""

from __future__ import annotations

import logging
import math
from collections import OrderedDict
from datetime import datetime
from threading import Lock

import orjson
from sqlmodel import Session, select

from dispatch import alerts
from dispatch.models import Trip, TripEvent
from tracking import detectors
from tracking.fix import Fix, iso_z
from tracking.models import TripTrackState
from tracking.rawsql import RawSQL

log = logging.getLogger(__name__)

# Above the number of trips under way at once: a plan rebuilt on every fix costs more than the rest.
_PLAN_CACHE_SIZE = 4096
# trip id -> (the state's JSON text as stored, the state it decodes to): a stored text equal
# to the one remembered needs no decoding. The text is compared, so another process's
# write is always seen.
_STATE_CACHE_SIZE = 20_000
_states: OrderedDict[int, tuple[str, detectors.DetectionState]] = OrderedDict()
_states_lock = Lock()
_plans: OrderedDict[tuple, object] = OrderedDict()
_plans_lock = Lock()


def plan_for(trip: Trip, zones: tuple[tuple, tuple] = ((), ())) -> tuple[detectors.TripPlan,
                                                                         detectors.DetectionSettings]:
    """Return the trip's prepared plan and settings, built once per version of the trip and zones.

    Every change to a trip (status, route, geofences, settings) moves its ``updated_at``,
    so the version key is cheap: no hashing of a long route on every fix. ``zones`` is
    (version, hazards) from the zone cache.
    """
    zones_version, hazards = zones
    key = (trip.id, trip.updated_at, trip.status, zones_version)
    with _plans_lock:
        cached = _plans.get(key)
        if cached is not None:
            _plans.move_to_end(key)
            return cached
    plan = detectors.build_plan(
        route=[tuple(p) for p in trip.route],
        pickup=(trip.pickup_lat, trip.pickup_lon, trip.pickup_radius_m),
        dropoff=(trip.dropoff_lat, trip.dropoff_lon, trip.dropoff_radius_m),
        hazards=hazards,
        allowed_stops=[(p["lat"], p["lon"], p["radius_m"]) for p in trip.allowed_stops or []],
        appointment_at=trip.appointment_at,
        route_active=trip.status == "on_board",  # before pickup the escort is not on the planned route
        segment_durations_s=_durations(trip),
    )
    from dispatch.settings import detection_overrides

    cached = (plan, detectors.DetectionSettings.from_overrides(detection_overrides(trip.settings or {})))
    with _plans_lock:
        _plans[key] = cached
        while len(_plans) > _PLAN_CACHE_SIZE:
            _plans.popitem(last=False)
    return cached


def _durations(trip: Trip) -> list[float] | None:
    """Return the route's segment durations when they fit the route (one per segment), else None."""
    durations = trip.route_durations_s
    if not durations or len(durations) != len(trip.route) - 1:
        return None  # a route replaced without its timing: the expected speed stands in
    if not all(isinstance(d, (int, float)) and not isinstance(d, bool) and 0 <= d < math.inf for d in durations):
        return None
    return [float(d) for d in durations]


def run(session: Session, trip: Trip, fixes: list[Fix], result, *, now: datetime, zone_cache=None) -> None:
    """Step the trip's detector through new fixes in time order, then apply the net events.

    A batch (a tablet flushing its offline queue) is judged by where it ends: an alert
    raised and cleared inside one backlog goes to the timeline, not to the dispatcher's
    screen, so a reconnecting device causes no storm of stale alerts.
    """
    row = session.exec(
        select(TripTrackState).where(TripTrackState.trip_id == trip.id).with_for_update()
    ).first()
    state = detectors.DetectionState.from_dict(row.state if row else None)
    if zone_cache is None:
        from dispatch.zones import ZoneCache

        zone_cache = ZoneCache(ttl_s=0)
    state, events = advance(trip, state, fixes, zone_cache.get(session, now))
    if row is None:
        row = TripTrackState(trip_id=trip.id, state={}, updated_at=now)
    row.state, row.updated_at = state.to_dict(), now
    session.add(row)
    _apply(session, trip, events, result, now=now, batch=len(fixes) > 1)


def note_received(session: Session, trip_id: int, now: datetime) -> None:
    """Move the trip's ``updated_at`` to ``now`` when detection could not (a fix arrived all the same)."""
    row = session.get(TripTrackState, trip_id)
    if row is None:
        session.add(TripTrackState(trip_id=trip_id, state={}, updated_at=now))
    elif row.updated_at < now:
        row.updated_at = now
        session.add(row)


def advance(trip: Trip, state: detectors.DetectionState, fixes: list[Fix],
            zones: tuple[tuple, tuple]) -> tuple[detectors.DetectionState, list]:
    """Step the detector through fixes in time order; return the new state and the events (no I/O)."""
    plan, settings = plan_for(trip, zones)
    events = []
    for fix in sorted(fixes, key=lambda f: (f.ts, f.seq)):
        state, fix_events, _skipped = detectors.process(state, fix, plan, settings)
        events.extend(fix_events)
    return state, events


def run_many(session: Session, jobs: list[tuple], *, zone_cache=None, raw: RawSQL | None = None) -> None:
    """Run detection for many batches at once: ``jobs`` is [(trip, fixes, result, now)], in arrival order.

    One read of every trip's state and one write, whatever the number of trips; the jobs of
    one trip step through its state in turn. A job whose detector or alerts fail leaves its
    trip's state as it was (its fixes stay stored), like ``run``.
    """
    if not jobs:
        return
    raw = raw or RawSQL(session)
    trip_ids = sorted({trip.id for trip, *_ in jobs})
    rows = raw.track_states(trip_ids)
    stored = {trip_id: _decoded(trip_id, text) for trip_id, text in rows}
    states = {trip_id: stored.get(trip_id) or detectors.DetectionState() for trip_id in trip_ids}
    if zone_cache is None:
        from dispatch.zones import ZoneCache

        zone_cache = ZoneCache(ttl_s=0)
    zones = zone_cache.get(session, max(now for *_, now in jobs))
    received: dict[int, datetime] = {}
    for trip, fixes, result, now in jobs:
        # Every trip here has a fresh fix: its row's updated_at moves whatever detection does
        # (the sweep's signal-lost clock reads it).
        received[trip.id] = max(now, received.get(trip.id, now))
        try:
            state, events = advance(trip, states[trip.id], fixes, zones)
        except Exception:  # noqa: BLE001  (the fixes are stored and acknowledged whatever detection does)
            log.exception("detection failed for trip %s", trip.id)
            continue
        if events and not _apply_safely(session, trip, events, result, now=now, batch=len(fixes) > 1):
            continue
        states[trip.id] = state
    _save_states(raw, {t: states[t] for t in received}, received, existing=set(stored))


def _apply_safely(session: Session, trip: Trip, events: list, result, *, now: datetime, batch: bool) -> bool:
    """Apply events in a savepoint; on failure log, undo what the result was told, return False."""
    alerts_before, notices_before = len(result.alerts), len(result.notices)
    try:
        with session.begin_nested():
            _apply(session, trip, events, result, now=now, batch=batch)
        return True
    except Exception:  # noqa: BLE001  (as in run(): a detection fault never loses the stored fixes)
        log.exception("detection failed for trip %s", trip.id)
        del result.alerts[alerts_before:], result.notices[notices_before:]
        return False


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
    """Write the trips' detection states: one UPDATE for the rows there were, one INSERT for new ones.

    The JSON text is made here, once, and stored as it is, so that the text remembered is
    exactly the text stored (and read back the next time).
    """
    texts = {trip_id: state.to_json() for trip_id, state in states.items()}
    raw.save_track_states(
        old=((text, raw.when(at[trip_id]), trip_id) for trip_id, text in texts.items() if trip_id in existing),
        new=((trip_id, text, raw.when(at[trip_id])) for trip_id, text in texts.items() if trip_id not in existing),
    )
    for trip_id, text in texts.items():
        _remember(trip_id, text, states[trip_id])


def _apply(session: Session, trip: Trip, events: list, result, *, now: datetime, batch: bool) -> None:
    """Raise and clear alerts in event order; record notices in the timeline.

    Every alert is recorded the same way whether its fixes came live or in one backlog, so a
    replay raises the same alerts. What a backlog raised and cleared again is history, not
    news: it is marked ``from_backlog`` and not pushed to dispatchers' screens, so a device
    flushing its offline queue causes no storm of stale alerts.
    """
    touched: dict[int, tuple] = {}
    for event in events:
        if event.action == "notice":
            session.add(TripEvent(trip_id=trip.id, at=event.ts, kind=event.kind, detail=event.detail))
            result.notices.append({"escort_user_id": trip.escort_user_id,
                                   "payload": {"trip_id": trip.id, "kind": event.kind, "ts": iso_z(event.ts)}})
        elif event.action == "raise":
            alert, new = alerts.raise_alert(session, trip_id=trip.id, device_id=trip.device_id, kind=event.kind,
                                            detail=event.detail, at=event.ts, now=now)
            touched.setdefault(alert.id, (alert, new))
        elif event.action == "resolve":
            alert = alerts.auto_resolve(session, trip_id=trip.id, device_id=trip.device_id, kind=event.kind,
                                        detail=event.detail, at=event.ts, now=now)
            if alert is not None:
                touched.setdefault(alert.id, (alert, False))
    for alert, new in touched.values():
        if batch and new and alert.resolved_at is not None:
            alert.detail = {**alert.detail, "from_backlog": True}
            session.add(alert)
            continue
        result.alerts.append(alert)
