"""The routed pickup leg: the sweep routes the escort's position → pickup, never the ingest path.

For every trip driving to its pickup (``en_route_pickup``) whose stored leg is stale
(``tracking.eta.leg_is_stale``: none yet, too old, the escort off it, the pickup moved), the
router is asked for the road route from the escort's last detected position to the pickup,
and the leg is stored on the trip's detection row (``trip_track_state.pickup_leg``), where
ingest reads it with the state it already loads for every batch. A router that fails, refuses
or times out leaves a failed leg (the straight line stands in, ``eta_source`` says so) and is
asked again after ``LEG_RETRY_S``. The legs of one sweep share a time budget, and once the
router is unreachable the rest of that sweep's legs are not asked for: a router that is down
costs one time-out per sweep, not one per trip. Several processes sweeping may each route
the same leg: harmless (the later leg is stored), and rare (legs last minutes).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import update
from sqlmodel import Session, select

from dispatch.arrival import TO_PICKUP, prepared_leg
from dispatch.models import Trip
from places.routing import NoRoadRoute, Router, RouterUnavailable
from tracking import eta
from tracking.detectors import DetectionState
from tracking.models import TripTrackState

log = logging.getLogger(__name__)
# Seconds one sweep may spend routing legs; the legs left over wait for the next sweep.
LEG_BUDGET_S = 3.0
# The time-out of one leg's request to a routing server (ESCORT_ROUTER_URL).
LEG_TIMEOUT_S = 4


@dataclass
class LegsResult:
    """What a round of leg routing did: trip ids routed by road, and fallen back to the straight line."""

    routed: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)
    left_for_later: int = 0  # stale legs not asked for this round (budget spent)


def refresh(session: Session, router: Router | None, *, now: datetime, budget_s: float = LEG_BUDGET_S,
            clock: Callable[[], float] = time.monotonic) -> LegsResult:
    """Route the stale pickup legs of the trips driving to their pickup; store each as it comes (committed)."""
    result = LegsResult()
    started = clock()
    down: str | None = None  # why the router is unreachable, once it was this round
    for trip_id, pickup, position, stored in _candidates(session):
        leg = eta.PickupLeg.from_dict(stored)
        if not eta.leg_is_stale(leg, position, pickup, now, prepared_leg(trip_id, stored) if leg else None):
            continue
        if clock() - started > budget_s:
            result.left_for_later += 1
            continue
        if router is None:
            fresh = _failed(now, position, pickup, None, "no router configured")
        elif down is not None:
            fresh = _failed(now, position, pickup, router.name, down)
        else:
            fresh = _route(router, now, position, pickup)
            if fresh.error is not None and not fresh.error.startswith(NO_ROAD):
                down = fresh.error
        (result.routed if fresh.source == eta.ROAD else result.failed).append(trip_id)
        session.execute(update(TripTrackState).where(TripTrackState.trip_id == trip_id)
                     .values(pickup_leg=fresh.to_dict()))
        session.commit()  # leg by leg: a slow router never holds a transaction open
    return result


NO_ROAD = "no road route: "


def _route(router: Router, now: datetime, position: tuple[float, float], pickup: tuple[float, float]
           ) -> eta.PickupLeg:
    """Ask the router for one leg; a failure of any kind gives a failed leg saying why."""
    try:
        route = router.route([position, pickup])
    except NoRoadRoute as exc:
        return _failed(now, position, pickup, router.name, f"{NO_ROAD}{exc}")
    except RouterUnavailable as exc:
        log.warning("pickup leg: %s", exc)
        return _failed(now, position, pickup, router.name, str(exc))
    except Exception as exc:  # noqa: BLE001  (an engine's own fault: the straight line stands in)
        log.exception("pickup leg: the %s router failed", router.name)
        return _failed(now, position, pickup, router.name, f"{type(exc).__name__}: {exc}"[:200])
    if len(route.points) < 2:
        return _failed(now, position, pickup, router.name, f"{NO_ROAD}the router gave no line")
    return eta.PickupLeg(routed_at=now, origin=position, to=pickup, points=tuple(route.points),
                         distance_m=route.distance_m, duration_s=route.duration_s, router=router.name)


def _failed(now: datetime, position, pickup, router: str | None, error: str) -> eta.PickupLeg:
    """Return a failed leg: the straight line stands in until it is asked for again."""
    return eta.PickupLeg(routed_at=now, origin=position, to=pickup, router=router, error=error[:300])


def _candidates(session: Session):
    """Yield (trip id, pickup, escort's last detected position, stored leg) of trips driving to their pickup."""
    rows = session.exec(select(Trip.id, Trip.pickup_lat, Trip.pickup_lon, TripTrackState.state,
                               TripTrackState.pickup_leg)
                        .join(TripTrackState, TripTrackState.trip_id == Trip.id)
                        .where(Trip.status.in_(TO_PICKUP)).order_by(Trip.id)).all()
    for trip_id, lat, lon, state, stored in rows:
        last = DetectionState.from_dict(state)
        if last.last_lat is None or last.last_lon is None:
            continue  # no position yet: nothing to route from
        yield trip_id, (lat, lon), (last.last_lat, last.last_lon), stored
