"""Flagged places: dispatchers' shared warnings about addresses and areas, matched to trips.

A trip whose pickup or drop-off geofence touches a flagged place in force gets the warning
at planning time (in the answer and in its timeline) and on the escort's tablet before arrival.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session, select

from app.audit import record
from app.models import User
from app.times import iso_z
from dispatch.models import FlaggedPlace, Trip
from dispatch.zones import ZoneError, simple_ring
from tracking.geo import CircleFence, PolygonFence, Projection

CATEGORIES = ("aggressive_resident", "unsafe_parking", "no_lift", "dog", "access", "other")
CATEGORY_LABELS = {
    "aggressive_resident": "Aggressive resident", "unsafe_parking": "Unsafe parking", "no_lift": "No lift",
    "dog": "Dog on the premises", "access": "Difficult access", "other": "Warning",
}
MAX_LIFETIME = timedelta(days=3 * 365)
LABEL_MAX, REASON_MAX, RADIUS_MAX_M = 200, 1000, 5000.0
# What the page and the API may change on a flagged place.
FLAG_FIELDS = ("label", "category", "reason", "point", "polygon", "expires_at")
ESCORT_REACH_M = 100.0  # the tablet warns of flagged places this near the pickup or drop-off


class FlagError(ValueError):
    """A flagged place that cannot be stored; the message says why and ``field`` which input it is about."""

    def __init__(self, message: str, field: str = "form") -> None:
        super().__init__(message)
        self.field = field


def touches(place: FlaggedPlace, lat: float, lon: float, radius_m: float) -> bool:
    """Say whether a circle (a pickup or drop-off geofence) touches the flagged place."""
    projection = Projection(lat, lon)
    if place.ring:
        fence = PolygonFence(str(place.id), place.label, [tuple(p) for p in place.ring], projection)
        return fence.contains_xy(0.0, 0.0, margin_m=radius_m)
    circle = CircleFence(place.lat, place.lon, place.radius_m, projection)
    return circle.contains_xy(0.0, 0.0, margin_m=radius_m)


def _text(value: str | None, field: str, limit: int) -> str:
    """Return a required text stripped, or raise when it is missing or too long."""
    value = (value or "").strip()
    if not value:
        raise FlagError(f"the {field} is required", field)
    if len(value) > limit:
        raise FlagError(f"the {field} may be at most {limit} characters", field)
    return value


def _category(value: str) -> str:
    """Return a known category, or raise naming the choices."""
    if value not in CATEGORIES:
        raise FlagError(f"category must be one of {', '.join(CATEGORIES)}", "category")
    return value


def _expiry(expires_at: datetime | None, now: datetime) -> datetime:
    """Return an expiry after checking it lies ahead, and not too far."""
    if expires_at is None:
        raise FlagError("expires_at is required: a warning is reviewed when it expires", "expires_at")
    if expires_at <= now:
        raise FlagError("expires_at must be in the future", "expires_at")
    if expires_at - now > MAX_LIFETIME:
        raise FlagError("expires_at may be at most three years ahead: review the warning then", "expires_at")
    return expires_at


def _set_point(place: FlaggedPlace, point: dict) -> None:
    """Make the place a circle: its centre and radius checked, any polygon dropped."""
    try:
        lat, lon, radius_m = float(point["lat"]), float(point["lon"]), float(point.get("radius_m", 30.0))
    except (KeyError, TypeError, ValueError):
        raise FlagError("point needs lat, lon and radius_m as numbers", "lat") from None
    if not (math.isfinite(lat) and -90 <= lat <= 90):
        raise FlagError("latitude must be between -90 and 90", "lat")
    if not (math.isfinite(lon) and -180 <= lon <= 180):
        raise FlagError("longitude must be between -180 and 180", "lon")
    if not (math.isfinite(radius_m) and 0 < radius_m <= RADIUS_MAX_M):
        raise FlagError(f"the radius must be more than 0 and at most {RADIUS_MAX_M:g} m", "radius_m")
    place.lat, place.lon, place.radius_m, place.ring = lat, lon, radius_m, []


def _set_polygon(place: FlaggedPlace, polygon: Any) -> None:
    """Make the place an area: a simple polygon, any circle dropped."""
    try:
        place.ring = simple_ring(polygon)
    except ZoneError as exc:
        raise FlagError(str(exc), "polygon") from None
    place.lat = place.lon = place.radius_m = None


def create(session: Session, *, label: str, category: str, reason: str, point: dict | None, polygon: object,
           expires_at: datetime, user: User, now: datetime, via: str = "api") -> FlaggedPlace:
    """Store a flagged place: a point with a radius, or a simple GeoJSON polygon; the audit log records it."""
    if (point is None) == (polygon is None):
        raise FlagError("give either point {lat, lon, radius_m} or polygon (GeoJSON), not both", "point")
    place = FlaggedPlace(label=_text(label, "label", LABEL_MAX), category=_category(category),
                         reason=_text(reason, "reason", REASON_MAX), expires_at=_expiry(expires_at, now),
                         created_by_id=user.id, created_at=now, updated_at=now)
    if point is not None:
        _set_point(place, point)
    else:
        _set_polygon(place, polygon)
    session.add(place)
    session.flush()
    record(session, user, "flag_created", object_type="flagged_place", object_id=place.id,
           detail={"via": via, "label": place.label})
    return place


def active(session: Session, flag_id: int) -> FlaggedPlace | None:
    """Return the flagged place if it exists and is not retired."""
    place = session.get(FlaggedPlace, flag_id)
    return place if place is not None and place.active else None


def update(session: Session, place: FlaggedPlace, changes: dict[str, Any], *, user: User, now: datetime,
           via: str = "api") -> FlaggedPlace:
    """Change a flagged place (only the keys given); a new point drops its polygon and a new polygon its point."""
    unknown = set(changes) - set(FLAG_FIELDS)
    if unknown:
        raise FlagError(f"cannot change {', '.join(sorted(unknown))}", sorted(unknown)[0])
    if changes.get("point") is not None and changes.get("polygon") is not None:
        raise FlagError("give either point or polygon, not both", "point")
    if "label" in changes:
        place.label = _text(changes["label"], "label", LABEL_MAX)
    if "category" in changes:
        place.category = _category(changes["category"])
    if "reason" in changes:
        place.reason = _text(changes["reason"], "reason", REASON_MAX)
    if "expires_at" in changes:
        place.expires_at = _expiry(changes["expires_at"], now)
    if changes.get("point") is not None:
        _set_point(place, changes["point"])
    elif changes.get("polygon") is not None:
        _set_polygon(place, changes["polygon"])
    place.updated_at = max(now, place.updated_at)
    session.add(place)
    session.flush()
    record(session, user, "flag_updated", object_type="flagged_place", object_id=place.id,
           detail={"via": via, "changed": sorted(changes)})
    return place


def retire(session: Session, place: FlaggedPlace, *, user: User, now: datetime, via: str = "api") -> None:
    """Retire a flagged place: kept for the record, no longer warned about."""
    place.active, place.updated_at = False, max(now, place.updated_at)
    session.add(place)
    record(session, user, "flag_retired", object_type="flagged_place", object_id=place.id,
           detail={"via": via, "label": place.label})


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
