"""A trip's prepared plan for detection and the ETA: built once per version of the trip (and zones)."""

from __future__ import annotations

import math
from collections import OrderedDict
from threading import Lock

from dispatch.models import Trip
from dispatch.settings import detection_settings
from tracking import detectors

# Above the number of trips under way at once: a plan rebuilt on every fix costs more than the rest.
_PLAN_CACHE_SIZE = 4096
_plans: OrderedDict[tuple, tuple[detectors.TripPlan, detectors.DetectionSettings]] = OrderedDict()
_plans_lock = Lock()


def segment_durations(trip: Trip) -> list[float] | None:
    """Return the route's segment durations when they fit the route (one per segment), else None."""
    durations = trip.route_durations_s
    if not durations or len(durations) != len(trip.route) - 1:
        return None  # a route replaced without its timing: the expected speed stands in
    if not all(isinstance(d, (int, float)) and not isinstance(d, bool) and 0 <= d < math.inf for d in durations):
        return None
    return [float(d) for d in durations]


def plan_for(trip: Trip, zones: tuple = (None, (), ())) -> tuple[detectors.TripPlan, detectors.DetectionSettings]:
    """Return the trip's prepared plan and settings, built once per version of the trip and zones.

    Every change to a trip (status, route, geofences, settings) moves its ``updated_at``,
    so the version key is cheap: no hashing of a long route on every fix. ``zones`` is
    (version, hazards, flagged places) from the zone cache; without it the plan has no hazard
    zones and no flagged places (the live ETA needs none). The plan keeps only the flagged
    places near the trip, so detection reads no database per fix.
    """
    zones_version, hazards, *rest = zones
    flagged = rest[0] if rest else ()
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
        segment_durations_s=segment_durations(trip),
        flagged=flagged,
    )
    cached = (plan, detection_settings(trip.settings))
    with _plans_lock:
        _plans[key] = cached
        while len(_plans) > _PLAN_CACHE_SIZE:
            _plans.popitem(last=False)
    return cached
