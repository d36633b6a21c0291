"""Planned routes from GPX and GeoJSON, and recorded tracks to GPX (gpxpy)."""

from __future__ import annotations

import math
from typing import Any, Iterable

import gpxpy
import gpxpy.gpx

from tracking.fix import Fix

MAX_POINTS = 20_000


class RouteFileError(ValueError):
    """A route file or object that cannot be used; the message says why."""


def _check(points: list[tuple[float, float]], what: str) -> list[tuple[float, float]]:
    """Refuse short routes and impossible coordinates."""
    if len(points) < 2:
        raise RouteFileError(f"{what} needs at least 2 points")
    if len(points) > MAX_POINTS:
        raise RouteFileError(f"{what} has more than {MAX_POINTS} points")
    for lat, lon in points:
        if not (math.isfinite(lat) and math.isfinite(lon) and -90 <= lat <= 90 and -180 <= lon <= 180):
            raise RouteFileError(f"{what} has a point out of range: {lat}, {lon}")
    return points


def route_from_gpx(data: bytes | str) -> list[tuple[float, float]]:
    """Return (lat, lon) points of the first track (segments joined), else of the first route."""
    if isinstance(data, bytes):
        data = data.decode("utf-8", errors="replace")
    try:
        gpx = gpxpy.parse(data)
    except Exception as exc:  # noqa: BLE001  (gpxpy raises several types for broken XML)
        raise RouteFileError(f"not a readable GPX file: {str(exc)[:120]}") from None
    for track in gpx.tracks:
        points = [(p.latitude, p.longitude) for seg in track.segments for p in seg.points]
        if points:
            return _check(points, "the GPX track")
    for route in gpx.routes:
        if route.points:
            return _check([(p.latitude, p.longitude) for p in route.points], "the GPX route")
    raise RouteFileError("the GPX file has no track or route with points")


def route_from_geojson(obj: Any) -> list[tuple[float, float]]:
    """Return (lat, lon) points of a GeoJSON LineString (geometry or Feature; coordinates [lon, lat])."""
    if isinstance(obj, dict) and obj.get("type") == "Feature":
        obj = obj.get("geometry")
    if not isinstance(obj, dict) or obj.get("type") != "LineString":
        raise RouteFileError("route must be a GeoJSON LineString")
    coords = obj.get("coordinates")
    if not isinstance(coords, list):
        raise RouteFileError("route coordinates must be a list of [lon, lat]")
    points = []
    for c in coords:
        if (not isinstance(c, list) or len(c) < 2
                or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in c[:2])):
            raise RouteFileError("each route coordinate must be [lon, lat] numbers")
        points.append((float(c[1]), float(c[0])))
    return _check(points, "the route")


def track_to_gpx(fixes: Iterable[Fix], name: str) -> str:
    """Return GPX 1.1 of a recorded track, every point with its time."""
    gpx = gpxpy.gpx.GPX()
    track = gpxpy.gpx.GPXTrack(name=name)
    segment = gpxpy.gpx.GPXTrackSegment()
    for fix in fixes:
        segment.points.append(gpxpy.gpx.GPXTrackPoint(fix.lat, fix.lon, elevation=fix.altitude_m, time=fix.ts))
    track.segments.append(segment)
    gpx.tracks.append(track)
    return gpx.to_xml(version="1.1")
