"""Read planned routes from GPX and GeoJSON, and write recorded tracks as GPX 1.1 (gpxpy; pure)."""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timezone
from typing import Any

import gpxpy
import gpxpy.gpx

from tracking.fix import Fix

MAX_GPX_BYTES = 2_000_000  # the route upload reads one byte more, so a larger file is told so
MAX_POINTS = 20_000
# The encoding an XML declaration names, looked for in the first bytes only.
_DECLARED_ENCODING = re.compile(rb"""^\s*<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9._-]{1,40})["']""")
_XML_UNSAFE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


class RouteFileError(ValueError):
    """A route file or object that cannot be used; the message says why, fit for the uploader."""


class GpxError(RouteFileError):
    """A GPX file that is not GPX, is broken, or holds no usable track or route."""


class GeoJsonError(RouteFileError):
    """A GeoJSON route that is not a usable LineString."""


def _check(points: list[tuple[float, float]], what: str, error: type[RouteFileError]) -> list[tuple[float, float]]:
    """Refuse too few or too many points and impossible coordinates."""
    if len(points) > MAX_POINTS:
        raise error(f"{what} has {len(points)} points; at most {MAX_POINTS} are accepted")
    for i, (lat, lon) in enumerate(points):
        if not (math.isfinite(lat) and math.isfinite(lon) and -90 <= lat <= 90 and -180 <= lon <= 180):
            raise error(f"{what} has a point out of range (point {i + 1}: lat {lat}, lon {lon})")
    if len(set(points)) < 2:
        raise error(f"{what} needs at least 2 distinct points, it has {len(set(points))}")
    return points


def _text(data: bytes | str) -> str:
    """Return the file as text, decoded as its XML declaration says (UTF-8 by default)."""
    if isinstance(data, str):
        return data
    if len(data) > MAX_GPX_BYTES:
        raise GpxError(f"the GPX file is larger than {MAX_GPX_BYTES // 1_000_000} MB")
    declared = _DECLARED_ENCODING.match(data[:200].lstrip(b"\xef\xbb\xbf"))
    encoding = declared.group(1).decode("ascii") if declared else "utf-8"
    try:
        return data.decode("utf-8-sig" if encoding.lower() in ("utf-8", "utf8") else encoding)
    except LookupError:
        raise GpxError(f"the GPX file names an unknown encoding {encoding!r}") from None
    except UnicodeDecodeError as exc:
        raise GpxError(f"the GPX file is not valid {encoding} text (byte {exc.start})") from None


def _root_name(text: str) -> str | None:
    """Return the local name of the document's root element, or None if there is none to read."""
    parser = ET.XMLPullParser(events=("start",))
    try:
        for start in range(0, len(text), 65_536):
            parser.feed(text[start:start + 65_536])
            for _event, element in parser.read_events():
                return element.tag.rsplit("}", 1)[-1]
    except ET.ParseError:
        return None
    return None


@dataclass(frozen=True)
class GpxRoute:
    """The planned route read from a GPX file, and a note saying which parts of the file made it."""

    points: list[tuple[float, float]]
    note: str  # e.g. "joined 3 tracks, 296 points", for the uploader to see what was used


def route_from_gpx(data: bytes | str) -> list[tuple[float, float]]:
    """Return the (lat, lon) points of the route a GPX file plans (see ``read_gpx``)."""
    return read_gpx(data).points


def read_gpx(data: bytes | str) -> GpxRoute:
    """Read a planned route from GPX: every usable track joined in order, else every usable route.

    A usable part has at least 2 distinct points: a degenerate track (a one-point log) is
    skipped, not allowed to hide a valid route behind it. Segments of a track are joined in
    order; a route's Garmin shape points (``gpxx:rpt``, the road between two route points)
    are read in place. The note says what was joined and what was skipped.
    """
    gpx = _parse(data)
    tracks = [[(p.latitude, p.longitude) for seg in t.segments for p in seg.points] for t in gpx.tracks]
    routes, shaped = [], 0
    for route in gpx.routes:
        points, shapes = _route_points(route)
        routes.append(points)
        shaped += shapes
    for kind, parts, extra in (("track", tracks, 0), ("route", routes, shaped)):
        usable = [p for p in parts if len(set(p)) >= 2]
        if usable:
            points = [point for part in usable for point in part]
            _check(points, f"the GPX {kind}s" if len(usable) > 1 else f"the GPX {kind}", GpxError)
            note = _note(kind, usable, len(parts) - len(usable), extra)
            unused_routes = sum(len(set(r)) >= 2 for r in routes) if kind == "track" else 0
            if unused_routes:
                note += f"; the file's {unused_routes} route{'s' if unused_routes > 1 else ''} not used"
            return GpxRoute(points, note)
    for kind, parts in (("track", tracks), ("route", routes)):
        for part in parts:
            if part:
                _check(part, f"the GPX {kind}", GpxError)  # raises: too few distinct points
    raise _nothing_usable(gpx, data)


def _parse(data: bytes | str) -> gpxpy.gpx.GPX:
    """Decode and parse the file, or raise GpxError saying why it cannot be read."""
    text = _text(data)
    if len(text) > MAX_GPX_BYTES:
        raise GpxError(f"the GPX file is larger than {MAX_GPX_BYTES // 1_000_000} MB")
    if not text.strip():
        raise GpxError("the GPX file is empty")
    try:
        return gpxpy.parse(text)
    except gpxpy.gpx.GPXXMLSyntaxException as exc:
        detail = str(exc.__cause__ or exc)[:120]
        raise GpxError(f"not a readable GPX file: the XML is malformed ({detail})") from None
    except (gpxpy.gpx.GPXException, ValueError) as exc:  # e.g. lat="abc", or a point without lat
        raise GpxError(f"not a readable GPX file: {str(exc)[:120]}") from None


def _route_points(route: gpxpy.gpx.GPXRoute) -> tuple[list[tuple[float, float]], int]:
    """Return a route's points with Garmin's shape points after each route point, and how many those were."""
    points, shapes = [], 0
    for point in route.points:
        points.append((point.latitude, point.longitude))
        for lat, lon in _shape_points(point.extensions):
            points.append((lat, lon))
            shapes += 1
    return points, shapes


def _shape_points(extensions: list) -> Iterable[tuple[float, float]]:
    """Yield the (lat, lon) of ``gpxx:rpt`` elements in a route point's extensions (any namespace prefix)."""
    for element in extensions:
        for child in element.iter():
            if child.tag.rsplit("}", 1)[-1] != "rpt":
                continue
            try:
                yield float(child.attrib["lat"]), float(child.attrib["lon"])
            except (KeyError, ValueError):
                raise GpxError("not a readable GPX file: a Garmin shape point (gpxx:rpt) without a numeric "
                               "lat and lon") from None


def _note(kind: str, used: list[list], skipped: int, shapes: int) -> str:
    """Say what was read: how many parts were joined, how many points, what was skipped."""
    total = sum(len(p) for p in used)
    parts = f"joined {len(used)} {kind}s" if len(used) > 1 else f"1 {kind}"
    note = f"{parts}, {total} points"
    if shapes:
        note += f" (with {shapes} Garmin shape points)"
    if skipped:
        note += f"; skipped {skipped} {kind}{'s' if skipped > 1 else ''} with fewer than 2 distinct points"
    return note


def _nothing_usable(gpx: gpxpy.gpx.GPX, data: bytes | str) -> GpxError:
    """Return the error for a file with no track or route points at all."""
    root = _root_name(_text(data))
    if root != "gpx":
        return GpxError(f"not a GPX file: the root element is <{root}>, not <gpx>" if root else "not a GPX file")
    if gpx.waypoints:
        return GpxError("the GPX file has only waypoints; a planned route needs a track or a route")
    return GpxError("the GPX file has no track or route with points")


def route_from_geojson(obj: Any) -> list[tuple[float, float]]:
    """Return (lat, lon) points of a GeoJSON LineString, bare or in a Feature (coordinates [lon, lat])."""
    if isinstance(obj, dict) and obj.get("type") == "Feature":
        obj = obj.get("geometry")
    kind = obj.get("type") if isinstance(obj, dict) else type(obj).__name__
    if not isinstance(obj, dict) or kind != "LineString":
        raise GeoJsonError(f"the route must be a GeoJSON LineString or a Feature holding one, not {kind!r:.40}")
    coords = obj.get("coordinates")
    if not isinstance(coords, list):
        raise GeoJsonError("the route's coordinates must be a list of [lon, lat] positions")
    if len(coords) > MAX_POINTS:
        raise GeoJsonError(f"the route has {len(coords)} points; at most {MAX_POINTS} are accepted")
    points = []
    for i, c in enumerate(coords):
        if (not isinstance(c, list) or len(c) < 2
                or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in c[:2])):
            raise GeoJsonError(f"route position {i + 1} must be [lon, lat] numbers, not {c!r:.40}")
        try:
            points.append((float(c[1]), float(c[0])))
        except OverflowError:  # an integer too large for a float
            raise GeoJsonError(f"route position {i + 1} is out of range") from None
    return _check(points, "the route", GeoJsonError)


def track_to_gpx(points: Iterable[Fix], name: str) -> str:
    """Return GPX 1.1 of a recorded track: one segment, every point with its UTC time and altitude."""
    gpx = gpxpy.gpx.GPX()
    gpx.creator = "Escort Dispatch"
    track = gpxpy.gpx.GPXTrack(name=_XML_UNSAFE.sub("", name))
    segment = gpxpy.gpx.GPXTrackSegment()
    for fix in points:
        if fix.ts.tzinfo is None:
            raise ValueError(f"fix seq={fix.seq} has a naive timestamp; fixes carry UTC-aware times")
        point = gpxpy.gpx.GPXTrackPoint(fix.lat, fix.lon, elevation=fix.altitude_m, time=fix.ts.astimezone(timezone.utc))
        point.type = "mock" if fix.mock else None  # GPX's free-text <type>: the phone marked it a mock location
        segment.points.append(point)
    track.segments.append(segment)
    gpx.tracks.append(track)
    return gpx.to_xml(version="1.1")
