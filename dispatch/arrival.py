"""The live ETA of a trip under way: on read (GET trip, board), and from memory for the pushed positions."""

from __future__ import annotations

from collections import OrderedDict
from datetime import datetime
from threading import Lock

import orjson
from sqlmodel import Session

from app.times import iso_z
from dispatch.models import Trip
from dispatch.plans import plan_for
from tracking import detectors
from tracking import eta as eta_mod
from tracking.eta import Estimate, LegRouter, PickupLeg, PreparedLeg
from tracking.models import TripTrackState

# Driving to the pickup: the leg is the escort's position to the pickup.
TO_PICKUP = frozenset({"en_route_pickup"})
# At the pickup or driving the patient: the leg is the planned route to the drop-off.
TO_DROPOFF = frozenset({"arrived_pickup", "on_board"})
UNDER_WAY = TO_PICKUP | TO_DROPOFF

# Prepared pickup legs by trip: (the leg as stored, prepared). The stored leg compares equal
# only to itself, so a leg routed again (by any process) is prepared again.
_LEGS_SIZE = 4096
_legs: OrderedDict[int, tuple[object, PreparedLeg | None]] = OrderedDict()
_legs_lock = Lock()


def prepared_leg(trip_id: int, stored) -> PreparedLeg | None:
    """Return the trip's stored pickup leg (its JSON data or text) prepared for locating, remembered per trip."""
    if stored is None:
        return None
    with _legs_lock:
        hit = _legs.get(trip_id)
    if hit is not None and hit[0] == stored:
        return hit[1]
    leg = PickupLeg.from_dict(stored if isinstance(stored, dict) else _loads(stored))
    prepared = PreparedLeg(leg) if leg is not None else None
    with _legs_lock:
        _legs[trip_id] = (stored, prepared)
        _legs.move_to_end(trip_id)
        while len(_legs) > _LEGS_SIZE:
            _legs.popitem(last=False)
    return prepared


def _loads(text: str) -> dict | None:
    """Return the JSON data of a stored leg's text (None when it is not JSON)."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return None


def estimate(session: Session, trip: Trip, *, now: datetime, last_fix=None,
             leg_router: LegRouter | None = None) -> Estimate | None:
    """Return when the escort reaches the leg's end as seen at ``now``, or None when the trip is not under way.

    ``last_fix`` is the trip's latest fix (anything with lat, lon, ts, speed_mps). Driving to
    the pickup, the leg the sweep routed is used (``dispatch.legs``); ``leg_router`` routes
    it here instead when given.
    """
    if trip.status not in UNDER_WAY:
        return None
    row = session.get(TripTrackState, trip.id)
    state = detectors.DetectionState.from_dict(row.state if row else None)
    leg = prepared_leg(trip.id, row.pickup_leg) if row is not None and trip.status in TO_PICKUP else None
    return from_memory(trip, state, leg, now=now, last_fix=last_fix, leg_router=leg_router)


def from_memory(trip: Trip, state: detectors.DetectionState, leg: PreparedLeg | None, *, now: datetime,
                last_fix=None, leg_router: LegRouter | None = None, plan: tuple | None = None) -> Estimate | None:
    """Return the estimate from what is at hand (no database, no router but ``leg_router``): the pushed ETA's way.

    ``plan`` is the trip's (plan, settings) when the caller has them (detection has).
    """
    status = trip.status  # read once: an ORM attribute costs on this per-fix path
    if status not in UNDER_WAY:
        return None
    plan, settings = plan or plan_for(trip)
    if status == "on_board":
        at = detectors.eta(state, plan, settings, now)
        if at is not None:
            return Estimate(at, state.left_m, "dropoff", eta_mod.ROAD)
    if status == "arrived_pickup" or (status == "on_board" and last_fix is None):
        # At the pickup, or on board with no fix yet: the whole route, from now.
        return eta_mod.on_route(now, plan.route.length_m, 0.0, None, settings.expected_speed_mps, plan.timing)
    if last_fix is None:
        return None
    at, here = max(now, last_fix.ts), (last_fix.lat, last_fix.lon)
    if status in TO_PICKUP:
        pickup = (trip.pickup_lat, trip.pickup_lon)
        if leg_router is not None:
            return eta_mod.to_place(at, here, pickup, last_fix.speed_mps, settings.expected_speed_mps, leg_router)
        return eta_mod.to_pickup(at, here, pickup, last_fix.speed_mps, settings.expected_speed_mps, leg)
    # On board but not on the route yet: from the last position straight to the drop-off.
    return eta_mod.to_place(at, here, (trip.dropoff_lat, trip.dropoff_lon), last_fix.speed_mps,
                            settings.expected_speed_mps, None, "dropoff")


def dropoff_at(trip: Trip, found: Estimate | None) -> datetime | None:
    """Return when the patient should reach the drop-off: the live ETA, or the pickup's plus the route's time."""
    if found is None or found.to == "dropoff":
        return found.eta_at if found else None
    plan, settings = plan_for(trip)
    return eta_mod.on_route(found.eta_at, plan.route.length_m, 0.0, None, settings.expected_speed_mps,
                            plan.timing).eta_at


def public(found: Estimate | None) -> dict:
    """Return the estimate as the trip's answer and the pushed positions show it.

    eta_at (ISO UTC), left_m, eta_to ('pickup' or 'dropoff') and eta_source ('road' along a
    routed leg or the planned route, 'straight line' when no road route was at hand).
    """
    if found is None:
        return {"eta_at": None, "left_m": None, "eta_to": None, "eta_source": None}
    return {"eta_at": iso_z(found.eta_at.replace(microsecond=0)), "left_m": round(found.left_m, 1),
            "eta_to": found.to, "eta_source": found.source}
