"""The shell around the pure detectors: load the trip's state, step through fixes, save, raise."""

from __future__ import annotations

from collections import OrderedDict
from datetime import datetime
from threading import Lock

from sqlmodel import Session, select

from dispatch import alerts
from dispatch.models import Trip, TripEvent
from tracking import detectors
from tracking.fix import Fix
from tracking.models import TripTrackState

_PLAN_CACHE_SIZE = 512
_plans: OrderedDict[tuple, object] = OrderedDict()
_plans_lock = Lock()


def plan_for(trip: Trip):
    """Return the trip's prepared plan, built once per version of its route and geofences."""
    route_active = trip.status == "on_board"  # before pickup the escort is not on the planned route
    key = (trip.id, route_active, repr(trip.route), trip.pickup_lat, trip.pickup_lon, trip.pickup_radius_m,
           trip.dropoff_lat, trip.dropoff_lon, trip.dropoff_radius_m, trip.appointment_at)
    with _plans_lock:
        plan = _plans.get(key)
        if plan is not None:
            _plans.move_to_end(key)
            return plan
    plan = detectors.build_plan(
        route=[tuple(p) for p in trip.route],
        pickup=(trip.pickup_lat, trip.pickup_lon, trip.pickup_radius_m),
        dropoff=(trip.dropoff_lat, trip.dropoff_lon, trip.dropoff_radius_m),
        appointment_at=trip.appointment_at,
        route_active=route_active,
    )
    with _plans_lock:
        _plans[key] = plan
        while len(_plans) > _PLAN_CACHE_SIZE:
            _plans.popitem(last=False)
    return plan


def settings_for(trip: Trip) -> detectors.DetectionSettings:
    """Return the trip's detection settings: defaults with its overrides."""
    return detectors.DetectionSettings.from_overrides(trip.settings or {})


def run(session: Session, trip: Trip, fixes: list[Fix], result, *, now: datetime) -> None:
    """Step the trip's detector through new fixes in time order, then apply the net events.

    A batch (a tablet flushing its offline queue) is judged by where it ends: an alert
    raised and cleared inside one backlog goes to the timeline, not to the dispatcher's
    screen, so a reconnecting device causes no storm of stale alerts.
    """
    row = session.exec(
        select(TripTrackState).where(TripTrackState.trip_id == trip.id).with_for_update()
    ).first()
    state = detectors.DetectionState.from_dict(row.state if row else None)
    plan, settings = plan_for(trip), settings_for(trip)
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
    """Raise or clear alerts by each kind's last event; record notices in the timeline."""
    last_by_kind = {}
    for event in events:
        if event.action == "notice":
            session.add(TripEvent(trip_id=trip.id, at=event.ts, kind=event.kind, detail=event.detail))
            result.notices.append({"escort_user_id": trip.escort_user_id,
                                   "payload": {"trip_id": trip.id, "kind": event.kind, "ts": _iso(event.ts)}})
        else:
            if batch and event.kind in last_by_kind and last_by_kind[event.kind].action != event.action:
                session.add(TripEvent(trip_id=trip.id, at=event.ts, kind="backlog_" + event.action,
                                      detail={"kind": event.kind, **event.detail}))
            last_by_kind[event.kind] = event
    for event in last_by_kind.values():
        if event.action == "raise":
            alert, _new = alerts.raise_alert(session, trip_id=trip.id, device_id=trip.device_id, kind=event.kind,
                                             detail=event.detail, at=event.ts, now=now)
            result.alerts.append(alert)
        elif event.action == "resolve":
            alert = alerts.auto_resolve(session, trip_id=trip.id, device_id=trip.device_id, kind=event.kind,
                                        detail=event.detail, at=event.ts, now=now)
            if alert is not None:
                result.alerts.append(alert)


def _iso(value: datetime) -> str:
    """Return ISO-8601 UTC with a Z."""
    return value.isoformat().replace("+00:00", "Z")
