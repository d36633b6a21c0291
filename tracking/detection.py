"""The shell around the pure detectors: load the trip's state, step through fixes, save, raise."""

from __future__ import annotations

from collections import OrderedDict
from datetime import datetime
from threading import Lock

from sqlmodel import Session, select

from dispatch import alerts
from dispatch.models import Trip, TripEvent
from tracking import detectors
from tracking.fix import Fix, iso_z
from tracking.models import TripTrackState

_PLAN_CACHE_SIZE = 512
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
    )
    from dispatch.settings import detection_overrides

    cached = (plan, detectors.DetectionSettings.from_overrides(detection_overrides(trip.settings or {})))
    with _plans_lock:
        _plans[key] = cached
        while len(_plans) > _PLAN_CACHE_SIZE:
            _plans.popitem(last=False)
    return cached


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
    plan, settings = plan_for(trip, zone_cache.get(session, now))
    events = []
    for fix in sorted(fixes, key=lambda f: (f.ts, f.seq)):
        state, fix_events, _skipped = detectors.process(state, fix, plan, settings)
        events.extend(fix_events)
    if row is None:
        row = TripTrackState(trip_id=trip.id, state={}, updated_at=now)
    row.state, row.updated_at = state.to_dict(), now
    session.add(row)
    _apply(session, trip, events, result, now=now, batch=len(fixes) > 1)


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
