"""The live ETA of a trip under way, on read: from its detection state, or its last fix and the pickup."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session

from app.times import iso_z
from dispatch.models import Trip
from dispatch.tripbook import plan_for
from tracking import detectors
from tracking import eta as eta_mod
from tracking.eta import Estimate, LegRouter
from tracking.models import TripTrackState

# Driving to the pickup: the leg is the escort's position to the pickup.
TO_PICKUP = frozenset({"en_route_pickup"})
# At the pickup or driving the patient: the leg is the planned route to the drop-off.
TO_DROPOFF = frozenset({"arrived_pickup", "on_board"})


def estimate(session: Session, trip: Trip, *, now: datetime, last_fix=None,
             leg_router: LegRouter | None = None) -> Estimate | None:
    """Return when the escort reaches the leg's end as seen at ``now``, or None when the trip is not under way.

    ``last_fix`` is the trip's latest fix (anything with lat, lon, ts, speed_mps); ``leg_router``
    routes the pickup leg (escort → pickup) when a router is at hand, else the straight line
    with an urban detour factor stands in.
    """
    if trip.status not in TO_PICKUP | TO_DROPOFF:
        return None
    plan, settings = plan_for(trip)
    if trip.status == "on_board":
        row = session.get(TripTrackState, trip.id)
        state = detectors.DetectionState.from_dict(row.state if row else None)
        at = detectors.eta(state, plan, settings, now)
        if at is not None:
            return Estimate(at, state.left_m, "dropoff")
    if trip.status == "arrived_pickup" or (trip.status == "on_board" and last_fix is None):
        # At the pickup, or on board with no fix yet: the whole route, from now.
        return eta_mod.on_route(now, plan.route.length_m, 0.0, None, settings.expected_speed_mps, plan.timing)
    if last_fix is None:
        return None
    # Not on the route yet (or driving to the pickup): from the last position straight to the leg's end.
    to = "pickup" if trip.status in TO_PICKUP else "dropoff"
    place = (trip.pickup_lat, trip.pickup_lon) if to == "pickup" else (trip.dropoff_lat, trip.dropoff_lon)
    return eta_mod.to_place(max(now, last_fix.ts), (last_fix.lat, last_fix.lon), place, last_fix.speed_mps,
                            settings.expected_speed_mps, leg_router if to == "pickup" else None, to)


def dropoff_at(trip: Trip, found: Estimate | None) -> datetime | None:
    """Return when the patient should reach the drop-off: the live ETA, or the pickup's plus the route's time."""
    if found is None or found.to == "dropoff":
        return found.eta_at if found else None
    plan, settings = plan_for(trip)
    return eta_mod.on_route(found.eta_at, plan.route.length_m, 0.0, None, settings.expected_speed_mps,
                            plan.timing).eta_at


def public(found: Estimate | None) -> dict:
    """Return the estimate as the trip's answer shows it: eta_at (ISO UTC), left_m, eta_to."""
    if found is None:
        return {"eta_at": None, "left_m": None, "eta_to": None}
    return {"eta_at": iso_z(found.eta_at.replace(microsecond=0)), "left_m": round(found.left_m, 1), "eta_to": found.to}
