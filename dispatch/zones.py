"""Hazard zones: create from GeoJSON, list, retire, and the set detection uses (cached briefly, with flagged places)."""

from __future__ import annotations

import math
from datetime import datetime
from threading import Lock
from typing import Any

from sqlmodel import Session, func, or_, select

from app.models import User
from app.times import iso_z
from dispatch.models import FlaggedPlace, HazardZone

MAX_VERTICES = 2000


class ZoneError(ValueError):
    """A zone that cannot be stored; the message says why."""


def ring_from_geojson(obj: Any) -> list[list[float]]:
    """Return the outer ring of a GeoJSON Polygon (geometry or Feature) as [[lat, lon], …]."""
    if isinstance(obj, dict) and obj.get("type") == "Feature":
        obj = obj.get("geometry")
    if not isinstance(obj, dict) or obj.get("type") != "Polygon":
        raise ZoneError("polygon must be a GeoJSON Polygon")
    rings = obj.get("coordinates")
    if not isinstance(rings, list) or not rings or not isinstance(rings[0], list):
        raise ZoneError("polygon coordinates must be a list of rings of [lon, lat]")
    ring = []
    for point in rings[0]:
        if (not isinstance(point, list) or len(point) < 2
                or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in point[:2])):
            raise ZoneError("each polygon point must be [lon, lat] numbers")
        lon, lat = float(point[0]), float(point[1])
        if not (math.isfinite(lat) and math.isfinite(lon) and -90 <= lat <= 90 and -180 <= lon <= 180):
            raise ZoneError(f"polygon point out of range: {point[:2]}")
        ring.append([lat, lon])
    if len(ring) > 1 and ring[0] == ring[-1]:
        ring.pop()
    if len(ring) < 3:
        raise ZoneError("a polygon needs at least 3 distinct points")
    if len(ring) > MAX_VERTICES:
        raise ZoneError(f"a polygon may have at most {MAX_VERTICES} points")
    return ring


def create_zone(session: Session, *, name: str, reason: str | None, polygon: Any, expires_at: datetime | None,
                user: User, now: datetime) -> HazardZone:
    """Store a hazard zone after checking its polygon is simple."""
    import shapely

    ring = ring_from_geojson(polygon)
    # Validity is topological, so testing it on (lon, lat) degrees is sound.
    if not shapely.Polygon([(lon, lat) for lat, lon in ring]).is_valid:
        raise ZoneError("the polygon is not simple (its edges cross)")
    if expires_at is not None and expires_at <= now:
        raise ZoneError("expires_at must be in the future")
    zone = HazardZone(name=name, reason=reason, ring=ring, created_by_id=user.id, created_at=now, updated_at=now,
                      expires_at=expires_at)
    session.add(zone)
    session.flush()
    return zone


def active_zones(session: Session, now: datetime) -> list[HazardZone]:
    """Return the zones in force now."""
    return list(session.exec(select(HazardZone).where(
        HazardZone.active, or_(HazardZone.expires_at.is_(None), HazardZone.expires_at > now))).all())


def public(zone: HazardZone) -> dict:
    """Return a zone as the API and the map show it."""
    return {"id": zone.id, "name": zone.name, "reason": zone.reason, "polygon": zone.ring, "active": zone.active,
            "expires_at": iso_z(zone.expires_at)}


class ZoneCache:
    """The zones detection uses, re-read at most every few seconds (they change rarely)."""

    def __init__(self, ttl_s: float = 5.0) -> None:
        self.ttl_s = ttl_s
        self._lock = Lock()
        self._read_at: datetime | None = None
        self._value: tuple[tuple, tuple, tuple] = ((), (), ())

    def get(self, session: Session, now: datetime) -> tuple[tuple, tuple, tuple]:
        """Return (version, hazards, flagged) for build_plan.

        hazards are (id, name, ring); flagged are the published flagged places in force as
        ``detectors.FlaggedSpot`` fields (id, category, reason, lat, lon, radius_m, ring); the
        plan keeps those near its trip.
        """
        with self._lock:
            if self._read_at is not None and (now - self._read_at).total_seconds() < self.ttl_s:
                return self._value
        version = session.exec(select(func.count(HazardZone.id), func.max(HazardZone.updated_at))).one()
        flag_version = session.exec(select(func.count(FlaggedPlace.id), func.max(FlaggedPlace.updated_at))).one()
        zones = active_zones(session, now)
        hazards = tuple((str(z.id), z.name, [tuple(p) for p in z.ring]) for z in zones)
        places = session.exec(select(FlaggedPlace).where(
            FlaggedPlace.active, FlaggedPlace.status == "published", FlaggedPlace.expires_at > now)).all()
        flagged = tuple((str(p.id), p.category, p.reason, p.lat, p.lon, p.radius_m,
                         tuple(tuple(q) for q in p.ring or ())) for p in places)
        value = (tuple(version) + tuple(flag_version) + tuple(sorted(z.id for z in zones))
                 + ("flags",) + tuple(sorted(p.id for p in places)), hazards, flagged)
        with self._lock:
            self._read_at, self._value = now, value
        return value
