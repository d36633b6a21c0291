"""Flagged places: dispatchers' shared warnings about addresses and areas, matched to trips.

A trip whose pickup or drop-off geofence touches a flagged place in force gets the warning
at planning time (in the answer and in its timeline) and on the escort's tablet before arrival.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlmodel import Session, select

from app.models import User
from app.times import iso_z
from dispatch.models import FlaggedPlace, Trip
from dispatch.zones import ring_from_geojson
from tracking.geo import CircleFence, PolygonFence, Projection

CATEGORIES = ("aggressive_resident", "unsafe_parking", "no_lift", "dog", "access", "other")
CATEGORY_LABELS = {
    "aggressive_resident": "Aggressive resident", "unsafe_parking": "Unsafe parking", "no_lift": "No lift",
    "dog": "Dog on the premises", "access": "Difficult access", "other": "Warning",
}
MAX_LIFETIME = timedelta(days=3 * 365)
ESCORT_REACH_M = 100.0  # the tablet warns of flagged places this near the pickup or drop-off


class FlagError(ValueError):
    """A flagged place that cannot be stored; the message says why."""


def touches(place: FlaggedPlace, lat: float, lon: float, radius_m: float) -> bool:
    """Say whether a circle (a pickup or drop-off geofence) touches the flagged place."""
    projection = Projection(lat, lon)
    if place.ring:
        fence = PolygonFence(str(place.id), place.label, [tuple(p) for p in place.ring], projection)
        return fence.contains_xy(0.0, 0.0, margin_m=radius_m)
    circle = CircleFence(place.lat, place.lon, place.radius_m, projection)
    return circle.contains_xy(0.0, 0.0, margin_m=radius_m)


def create(session: Session, *, label: str, category: str, reason: str, point: dict | None, polygon: object,
           expires_at: datetime, user: User, now: datetime) -> FlaggedPlace:
    """Store a flagged place: a point with a radius, or a GeoJSON polygon."""
    if (point is None) == (polygon is None):
        raise FlagError("give either point {lat, lon, radius_m} or polygon (GeoJSON), not both")
    if expires_at <= now:
        raise FlagError("expires_at must be in the future")
    if expires_at - now > MAX_LIFETIME:
        raise FlagError("expires_at may be at most three years ahead: review the warning then")
    place = FlaggedPlace(label=label, category=category, reason=reason, expires_at=expires_at,
                         created_by_id=user.id, created_at=now, updated_at=now)
    if point is not None:
        place.lat, place.lon, place.radius_m = point["lat"], point["lon"], point["radius_m"]
    else:
        try:
            place.ring = ring_from_geojson(polygon)
        except ValueError as exc:
            raise FlagError(str(exc)) from None
    session.add(place)
    session.flush()
    return place


def in_force(session: Session, now: datetime) -> list[FlaggedPlace]:
    """Return the flagged places in force at ``now``."""
    return list(session.exec(
        select(FlaggedPlace).where(FlaggedPlace.active, FlaggedPlace.status == "published",
                                   FlaggedPlace.expires_at > now).order_by(FlaggedPlace.id)
    ).all())


def for_trip(session: Session, trip: Trip, now: datetime, *, reach_m: float = 0.0) -> list[dict]:
    """Return the warnings of published flagged places touching the trip's pickup or drop-off.

    ``reach_m`` widens each end to at least that radius (the tablet looks ~100 m around them).
    """
    found = []
    for place in in_force(session, now):
        for where, lat, lon, radius in (("pickup", trip.pickup_lat, trip.pickup_lon, trip.pickup_radius_m),
                                        ("dropoff", trip.dropoff_lat, trip.dropoff_lon, trip.dropoff_radius_m)):
            if touches(place, lat, lon, max(radius, reach_m)):
                found.append({"flag_id": place.id, "where": where, "category": place.category,
                              "title": CATEGORY_LABELS.get(place.category, "Warning"), "label": place.label,
                              "reason": place.reason, "expires_at": iso_z(place.expires_at)})
    return found


def public(place: FlaggedPlace) -> dict:
    """Return a flagged place as the API shows it to dispatchers."""
    geometry = ({"point": {"lat": place.lat, "lon": place.lon, "radius_m": place.radius_m}} if not place.ring
                else {"polygon": {"type": "Polygon",
                                  "coordinates": [[[lon, lat] for lat, lon in [*place.ring, place.ring[0]]]]}})
    return {"id": place.id, "label": place.label, "category": place.category, "reason": place.reason,
            **geometry, "active": place.active, "expires_at": iso_z(place.expires_at),
            "created_at": iso_z(place.created_at)}
