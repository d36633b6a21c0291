"""Road routes for trips: ask the router for pickup → allowed stops → drop-off, and the pickup leg."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session

from dispatch.models import Trip, TripEvent
from places.routing import NoRoadRoute, Route, Router, RouterUnavailable


def waypoints(pickup: dict, dropoff: dict, allowed_stops: list[dict]) -> list[tuple[float, float]]:
    """Return a trip's waypoints (lat, lon): pickup, its allowed stops in order, drop-off."""
    return [(p["lat"], p["lon"]) for p in (pickup, *allowed_stops, dropoff)]


def trip_waypoints(trip: Trip) -> list[tuple[float, float]]:
    """Return a stored trip's waypoints."""
    return waypoints({"lat": trip.pickup_lat, "lon": trip.pickup_lon},
                     {"lat": trip.dropoff_lat, "lon": trip.dropoff_lon}, trip.allowed_stops or [])


def road_points(router: Router, pickup: dict, dropoff: dict, allowed_stops: list[dict]) -> list[list[float]]:
    """Return the road route's points [[lat, lon], …] through the places, or [] when the router has none."""
    route, _routing = compute(router, waypoints(pickup, dropoff, allowed_stops))
    return [[lat, lon] for lat, lon in route.points] if route is not None else []


def compute(router: Router, points: list[tuple[float, float]]) -> tuple[Route | None, dict]:
    """Ask the router; return the route (None when it failed) and what the answer tells the dispatcher."""
    try:
        route = router.route(points)
    except RouterUnavailable as exc:
        return None, {"computed": False, "router": router.name,
                      "reason": "no_road_route" if isinstance(exc, NoRoadRoute) else "router_unavailable",
                      "error": f"{exc}; the trip has no planned route: draw it or upload a GPX file"}
    return route, {"computed": True, "router": router.name, "distance_m": route.distance_m,
                   "duration_s": route.duration_s}


def store(session: Session, trip: Trip, route: Route, source: str, *, now: datetime) -> None:
    """Make a computed route the trip's planned route, with its length and times, and log it."""
    trip.route = [[lat, lon] for lat, lon in route.points]
    trip.route_source = f"router:{source}"
    trip.route_distance_m, trip.route_duration_s = route.distance_m, route.duration_s
    trip.route_durations_s = route.segment_durations_s
    trip.updated_at = now
    session.add(trip)
    session.add(TripEvent(trip_id=trip.id, at=now, kind="route_planned",
                          detail={"source": trip.route_source, "distance_m": route.distance_m,
                                  "duration_s": route.duration_s}))


def replace_by_upload(trip: Trip, points: list[tuple[float, float]], *, now: datetime) -> None:
    """Make an uploaded or drawn line the trip's planned route (no router times known)."""
    trip.route = [[lat, lon] for lat, lon in points]
    trip.route_source = "upload" if points else None
    trip.route_distance_m = trip.route_duration_s = trip.route_durations_s = None
    trip.updated_at = now


def pickup_leg(router: Router, position: tuple[float, float], trip: Trip) -> Route | None:
    """Return the road route from an escort's position (lat, lon) to the trip's pickup; None when none."""
    try:
        return router.route([position, (trip.pickup_lat, trip.pickup_lon)])
    except RouterUnavailable:
        return None
