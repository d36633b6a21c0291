"""Hazard zones: create from GeoJSON, list, edit, retire, and the set detection uses (cached briefly, with flagged places)."""

from __future__ import annotations

import math
from datetime import datetime
from threading import Lock
from typing import Any

import shapely
from sqlmodel import Session, func, or_, select

from app.audit import record
from app.models import User
from app.times import iso_z
from dispatch.models import FlaggedPlace, HazardZone

MAX_VERTICES = 2000
NAME_MAX, REASON_MAX = 120, 500
# What the page and the API may change on a zone (PATCH /api/v1/hazard-zones/<id>, the page's edit form).
ZONE_FIELDS = ("name", "reason", "polygon", "expires_at")


class ZoneError(ValueError):
    """A zone that cannot be stored; the message says why and ``field`` which input it is about."""

    def __init__(self, message: str, field: str = "polygon") -> None:
        super().__init__(message)
        self.field = field


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


def simple_ring(polygon: Any) -> list[list[float]]:
    """Return the outer ring of a GeoJSON Polygon as [[lat, lon], …] after checking its edges do not cross."""
    ring = ring_from_geojson(polygon)
    # Validity is topological, so testing it on (lon, lat) degrees is sound.
    if not shapely.Polygon([(lon, lat) for lat, lon in ring]).is_valid:
        raise ZoneError("the polygon is not simple (its edges cross)")
    return ring


def polygon_from_text(text: str) -> dict:
    """Return a GeoJSON Polygon from "latitude, longitude" lines (the pages' corner lists)."""
    ring = []
    for number, line in enumerate((text or "").splitlines(), start=1):
        if not line.strip():
            continue
        parts = [p for p in line.replace(";", ",").replace(",", " ").split() if p]
        try:
            lat, lon = (float(p) for p in parts)
        except ValueError:
            raise ZoneError(f'line {number}: write each corner as "latitude, longitude", e.g. 51.5007, -0.1246') from None
        if not (math.isfinite(lat) and math.isfinite(lon)):
            raise ZoneError(f"line {number}: the numbers must be finite")
        ring.append([lon, lat])
    if ring and ring[0] != ring[-1]:
        ring.append(ring[0])
    return {"type": "Polygon", "coordinates": [ring]}


def ring_as_text(ring: list) -> str:
    """Return a stored ring as the pages' "latitude, longitude" lines."""
    return "\n".join(f"{lat:.6f}, {lon:.6f}" for lat, lon in ring)


def _text(value: str | None, field: str, limit: int, *, required: bool) -> str | None:
    """Return a name or reason stripped, or raise when it is missing or too long."""
    value = (value or "").strip()
    if not value:
        if required:
            raise ZoneError(f"the {field} is required", field)
        return None
    if len(value) > limit:
        raise ZoneError(f"the {field} may be at most {limit} characters", field)
    return value


def _expiry(expires_at: datetime | None, now: datetime) -> datetime | None:
    """Return an expiry after checking it lies ahead."""
    if expires_at is not None and expires_at <= now:
        raise ZoneError("expires_at must be in the future", "expires_at")
    return expires_at


def create_zone(session: Session, *, name: str, reason: str | None, polygon: Any, expires_at: datetime | None,
                user: User, now: datetime, via: str = "api") -> HazardZone:
    """Store a hazard zone after checking its polygon is simple; the audit log records who drew it."""
    name = _text(name, "name", NAME_MAX, required=True)
    reason = _text(reason, "reason", REASON_MAX, required=False)
    ring = simple_ring(polygon)
    zone = HazardZone(name=name, reason=reason, ring=ring, created_by_id=user.id, created_at=now, updated_at=now,
                      expires_at=_expiry(expires_at, now))
    session.add(zone)
    session.flush()
    record(session, user, "zone_created", object_type="hazard_zone", object_id=zone.id,
           detail={"via": via, "name": zone.name})
    return zone


def active_zone(session: Session, zone_id: int) -> HazardZone | None:
    """Return the zone if it exists and is not retired."""
    zone = session.get(HazardZone, zone_id)
    return zone if zone is not None and zone.active else None


def update_zone(session: Session, zone: HazardZone, changes: dict[str, Any], *, user: User, now: datetime,
                via: str = "api") -> HazardZone:
    """Change a zone's name, reason, polygon or expiry (only the keys given); detection sees it by updated_at."""
    unknown = set(changes) - set(ZONE_FIELDS)
    if unknown:
        raise ZoneError(f"cannot change {', '.join(sorted(unknown))}", sorted(unknown)[0])
    if "name" in changes:
        zone.name = _text(changes["name"], "name", NAME_MAX, required=True)
    if "reason" in changes:
        zone.reason = _text(changes["reason"], "reason", REASON_MAX, required=False)
    if "polygon" in changes:
        zone.ring = simple_ring(changes["polygon"])
    if "expires_at" in changes:
        zone.expires_at = _expiry(changes["expires_at"], now)
    zone.updated_at = max(now, zone.updated_at)
    session.add(zone)
    session.flush()
    record(session, user, "zone_updated", object_type="hazard_zone", object_id=zone.id,
           detail={"via": via, "changed": sorted(changes)})
    return zone


def retire_zone(session: Session, zone: HazardZone, *, user: User, now: datetime, via: str = "api") -> None:
    """Retire a zone: kept for the record, no longer in force (detection drops it on its next read)."""
    zone.active, zone.updated_at = False, max(now, zone.updated_at)
    session.add(zone)
    record(session, user, "zone_retired", object_type="hazard_zone", object_id=zone.id,
           detail={"via": via, "name": zone.name})


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

    def forget(self) -> None:
        """Drop what was read, so this process's next fix sees a zone just changed here at once."""
        with self._lock:
            self._read_at = None

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
        value = (tuple(version) + tuple(flag_version) + tuple(sorted((z.id, z.updated_at) for z in zones))
                 + ("flags",) + tuple(sorted((p.id, p.updated_at) for p in places)), hazards, flagged)
        with self._lock:
            self._read_at, self._value = now, value
        return value
