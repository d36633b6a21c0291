"""Pure geometry in metres: a local projection, distance and progress along a route, geofences.

Coordinates are ``(lat, lon)`` in names and arguments; inside, points are projected once per
route onto a local equirectangular plane about the route's centre (x east, y north, metres),
accurate to well under a metre over the few tens of kilometres a trip spans.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import shapely

EARTH_RADIUS_M = 6_371_008.8
_RAD = math.pi / 180.0


def haversine_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Return the great-circle distance between two points in metres."""
    p1, p2 = lat1 * _RAD, lat2 * _RAD
    dp, dl = p2 - p1, (lon2 - lon1) * _RAD
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


@dataclass(frozen=True)
class Projection:
    """An equirectangular projection about ``(lat0, lon0)``: degrees to metres and back."""

    lat0: float
    lon0: float

    @property
    def _kx(self) -> float:
        return EARTH_RADIUS_M * _RAD * math.cos(self.lat0 * _RAD)

    def to_xy(self, lat: float, lon: float) -> tuple[float, float]:
        """Project one point to (x, y) metres."""
        return (lon - self.lon0) * self._kx, (lat - self.lat0) * EARTH_RADIUS_M * _RAD

    def to_latlon(self, x: float, y: float) -> tuple[float, float]:
        """Return the (lat, lon) of a projected point."""
        return self.lat0 + y / (EARTH_RADIUS_M * _RAD), self.lon0 + x / self._kx

    @classmethod
    def about(cls, points: Sequence[tuple[float, float]]) -> "Projection":
        """Return the projection centred on the bounding box of (lat, lon) points."""
        lats = [p[0] for p in points]
        lons = [p[1] for p in points]
        return cls((min(lats) + max(lats)) / 2, (min(lons) + max(lons)) / 2)


@dataclass(frozen=True)
class Located:
    """Where a point is relative to a route: distance to its nearest segment and progress."""

    distance_m: float
    along_m: float


class Route:
    """A planned route prepared for fast repeated distance and progress queries."""

    def __init__(self, points: Sequence[tuple[float, float]], projection: Projection | None = None) -> None:
        """Prepare a route from (lat, lon) points (at least two distinct ones)."""
        if len(points) < 2:
            raise ValueError("a route needs at least 2 points")
        self.projection = projection or Projection.about(points)
        xy = np.array([self.projection.to_xy(lat, lon) for lat, lon in points], dtype=float)
        keep = np.ones(len(xy), dtype=bool)
        keep[1:] = np.any(np.diff(xy, axis=0) != 0, axis=1)  # drop repeated vertices: zero-length segments
        xy = xy[keep]
        if len(xy) < 2:
            raise ValueError("a route needs at least 2 distinct points")
        self.x0, self.y0 = xy[:-1, 0].copy(), xy[:-1, 1].copy()
        self.dx, self.dy = np.diff(xy[:, 0]), np.diff(xy[:, 1])
        self.seg_len_m = np.hypot(self.dx, self.dy)
        self.seg_len2 = self.seg_len_m ** 2
        self.cum_start_m = np.concatenate(([0.0], np.cumsum(self.seg_len_m)[:-1]))
        self.length_m = float(self.seg_len_m.sum())

    def _nearest(self, px: float, py: float, lo: int, hi: int) -> tuple[float, float]:
        """Return (distance, along) to the nearest of segments lo..hi-1."""
        x0, y0, dx, dy = self.x0[lo:hi], self.y0[lo:hi], self.dx[lo:hi], self.dy[lo:hi]
        t = ((px - x0) * dx + (py - y0) * dy) / self.seg_len2[lo:hi]
        np.clip(t, 0.0, 1.0, out=t)
        d2 = (x0 + t * dx - px) ** 2 + (y0 + t * dy - py) ** 2
        i = int(np.argmin(d2))
        return math.sqrt(float(d2[i])), float(self.cum_start_m[lo + i] + t[i] * self.seg_len_m[lo + i])

    def locate_xy(self, px: float, py: float, near_along_m: float | None = None,
                  behind_m: float = 300.0, ahead_m: float = 2000.0) -> Located:
        """Locate a projected point, searching first around the last known progress.

        The window keeps a route that passes itself (an out-and-back street, a loop) from
        snapping progress to the wrong pass; the whole route is searched only when the
        window finds nothing close, such as on the first fix or after a long detour.
        """
        n = len(self.x0)
        if near_along_m is not None:
            lo = max(0, int(np.searchsorted(self.cum_start_m, near_along_m - behind_m, side="right")) - 1)
            hi = min(n, int(np.searchsorted(self.cum_start_m, near_along_m + ahead_m, side="right")))
            if hi > lo:
                dist, along = self._nearest(px, py, lo, hi)
                if dist <= behind_m / 2:
                    return Located(dist, along)
                whole = self._nearest(px, py, 0, n)
                return Located(*whole) if whole[0] < dist else Located(dist, along)
        return Located(*self._nearest(px, py, 0, n))

    def locate(self, lat: float, lon: float, near_along_m: float | None = None) -> Located:
        """Locate a (lat, lon) point against the route."""
        return self.locate_xy(*self.projection.to_xy(lat, lon), near_along_m=near_along_m)


@dataclass(frozen=True)
class Circle:
    """A circular geofence: centre (lat, lon) and radius in metres."""

    lat: float
    lon: float
    radius_m: float

    def distance_m(self, lat: float, lon: float) -> float:
        """Return the distance from the centre in metres."""
        return haversine_m(self.lat, self.lon, lat, lon)


class Zone:
    """A polygon geofence (a hazard area), prepared for fast point-in-polygon tests."""

    def __init__(self, zone_id: str, name: str, ring: Sequence[tuple[float, float]], projection: Projection) -> None:
        """Prepare a zone from a ring of (lat, lon) points in the route's projection."""
        if len(ring) < 3:
            raise ValueError(f"zone {name!r} needs at least 3 points")
        self.zone_id, self.name, self.projection = zone_id, name, projection
        self.polygon = shapely.Polygon([projection.to_xy(lat, lon) for lat, lon in ring])
        if not self.polygon.is_valid:
            raise ValueError(f"zone {name!r} is not a simple polygon")
        shapely.prepare(self.polygon)

    def contains_xy(self, x: float, y: float) -> bool:
        """Say whether a projected point lies inside the zone."""
        return bool(shapely.contains_xy(self.polygon, x, y))
