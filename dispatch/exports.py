"""Exports of trips: the recorded track as GPX, CSV and GeoJSON, and a period's trip records as CSV.

Every format carries every stored fix with its UTC time, so they agree with one another; the
track exports name the trip, never the patient.
"""

from __future__ import annotations

import csv
import io
import json
import math
from typing import Iterable, Sequence

from app.times import iso_z
from dispatch import figures
from dispatch.models import Trip
from tracking.fix import Fix
from tracking.gpxio import track_to_gpx

TRACK_COLUMNS = ("seq", "ts", "lat", "lon", "accuracy_m", "speed_mps", "heading_deg", "altitude_m", "battery_pct",
                 "mock")
TRIP_COLUMNS = (
    "trip_id", "status", "escort", "patient_id", "patient_name",
    "scheduled_pickup_at", "pickup_at", "pickup_late_s", "pickup_on_time",
    "appointment_at", "dropoff_at", "dropoff_late_s", "arrival_on_time",
    "started_at", "ended_at", "pickup_lat", "pickup_lon", "dropoff_lat", "dropoff_lon",
    "statuses", "alert_count", "alerts",
)
MEDIA_TYPES = {"gpx": "application/gpx+xml", "csv": "text/csv; charset=utf-8", "geojson": "application/geo+json"}
# A spreadsheet runs a cell starting with one of these as a formula (CSV injection).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def track_gpx(trip_id: int, track: Sequence[Fix]) -> str:
    """Return the track as GPX 1.1: one segment, every fix with its time and altitude."""
    return track_to_gpx(track, f"Trip {trip_id}")


def track_csv(track: Iterable[Fix]) -> str:
    """Return the track as CSV, one row per fix, times ISO-8601 UTC with Z."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(TRACK_COLUMNS)
    for f in track:
        writer.writerow([_cell(v) for v in (f.seq, iso_z(f.ts), f.lat, f.lon, f.accuracy_m, f.speed_mps,
                                            f.heading_deg, f.altitude_m, f.battery_pct, int(f.mock))])
    return out.getvalue()


def track_geojson(trip_id: int, track: Sequence[Fix]) -> dict:
    """Return the track as a GeoJSON FeatureCollection: a LineString ([lon, lat]) with each fix's time.

    The times and sequence numbers ride along as ``coordinateProperties`` (the convention
    togeojson and Mapbox use); a one-fix track is a Point, an empty one has no features.
    """
    coords = [[f.lon, f.lat] if f.altitude_m is None else [f.lon, f.lat, f.altitude_m] for f in track]
    props = {"trip_id": trip_id, "fix_count": len(coords),
             "coordinateProperties": {"times": [iso_z(f.ts) for f in track], "seq": [f.seq for f in track],
                                      "speed_mps": [f.speed_mps for f in track],
                                      "accuracy_m": [f.accuracy_m for f in track],
                                      "mock": [f.mock for f in track]}}
    features = []
    if len(coords) >= 2:
        features.append({"type": "Feature", "geometry": {"type": "LineString", "coordinates": coords},
                         "properties": props})
    elif coords:
        features.append({"type": "Feature", "geometry": {"type": "Point", "coordinates": coords[0]},
                         "properties": props})
    return {"type": "FeatureCollection", "features": features}


def track_geojson_text(trip_id: int, track: Sequence[Fix]) -> str:
    """Return the GeoJSON export as compact text."""
    return json.dumps(track_geojson(trip_id, track), separators=(",", ":"))


def _cell(value) -> str:
    """Return a CSV cell: numbers as written, text defused against spreadsheet formulas."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value) if isinstance(value, float) else str(value)
    text = str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def trips_csv(records: Iterable[tuple[Trip, figures.Outcome, dict]]) -> str:
    """Return trip records as CSV: (trip, outcome, extra) with extra = escort, patient (or None), statuses, alerts."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(TRIP_COLUMNS)
    for trip, o, extra in records:
        patient = extra.get("patient")
        shown = patient is not None
        alerts = "; ".join(
            f"{a.kind} raised {iso_z(a.raised_at)}"
            + (f" acknowledged {iso_z(a.acknowledged_at)}" if a.acknowledged_at else "")
            + (f" resolved {iso_z(a.resolved_at)}" if a.resolved_at else "")
            for a in o.alerts)
        row = (trip.id, trip.status, extra.get("escort"), patient.id if shown else None,
               patient.name if shown else None,
               iso_z(o.scheduled_pickup_at), iso_z(o.pickup_at), o.pickup_late_s, o.pickup_on_time,
               iso_z(o.appointment_at), iso_z(o.dropoff_at), o.dropoff_late_s, o.arrival_on_time,
               iso_z(trip.started_at), iso_z(trip.ended_at),
               trip.pickup_lat if shown else None, trip.pickup_lon if shown else None,
               trip.dropoff_lat if shown else None, trip.dropoff_lon if shown else None,
               " > ".join(extra.get("statuses") or []), len(o.alerts), alerts)
        writer.writerow([_cell(v) for v in row])
    return out.getvalue()


def track_sketch_svg(route: Sequence[Sequence[float]], track: Sequence[Fix], off_route: Sequence[figures.Stretch],
                     stops: Sequence[figures.Stretch], *, width: int = 640, height: int = 360) -> str:
    """Draw the planned route, the driven track, off-route stretches and stops as inline SVG (no map tiles).

    For the printed report, where a tiled map does not print reliably: metres on a local
    plane, north up, the same scale on both axes.
    """
    from html import escape

    from tracking.geo import Projection

    points = [(float(p[0]), float(p[1])) for p in route] + [(f.lat, f.lon) for f in track]
    pad = 16
    if points:
        proj = Projection.about(points)
        xy = [proj.to_xy(lat, lon) for lat, lon in points]
        min_x, max_x = min(x for x, _ in xy), max(x for x, _ in xy)
        min_y, max_y = min(y for _, y in xy), max(y for _, y in xy)
        scale = min((width - 2 * pad) / max(max_x - min_x, 1.0), (height - 2 * pad) / max(max_y - min_y, 1.0))
        height = max(160, min(height, round((max_y - min_y) * scale + 2 * pad + 12)))  # no empty band
    head = (f'<svg class="track-sketch" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
            'role="img" aria-label="Planned route and driven track">')
    if not points:
        return head + f'<text x="{width / 2}" y="{height / 2}" text-anchor="middle">No route or track</text></svg>'

    def pts(latlons) -> str:
        out = []
        for lat, lon in latlons:
            x, y = proj.to_xy(lat, lon)
            out.append(f"{pad + (x - min_x) * scale:.1f},{height - pad - (y - min_y) * scale:.1f}")
        return " ".join(out)

    parts = [head]
    if len(route) > 1:
        parts.append(f'<polyline class="planned-route" points="{pts(route)}"/>')
    if len(track) > 1:
        parts.append(f'<polyline class="driven-track" points="{pts((f.lat, f.lon) for f in track)}"/>')
    for s in off_route:
        leg = track[s.start_index:s.end_index + 1]
        parts.append(f'<polyline class="off-route" points="{pts((f.lat, f.lon) for f in leg)}">'
                     f'<title>{escape(f"off route {s.duration_s:.0f} s")}</title></polyline>')
    for s in stops:
        cx, cy = pts([(s.lat, s.lon)]).split(",")
        parts.append(f'<circle class="stop" cx="{cx}" cy="{cy}" r="6"><title>{escape(f"stop {s.duration_s:.0f} s")}'
                     '</title></circle>')
    metres = 10 ** math.floor(math.log10(max(1.0, (width / 4) / scale)))
    label = f"{metres / 1000:g} km" if metres >= 1000 else f"{metres:g} m"
    bar_x = pad + metres * scale
    parts.append(f'<g class="scale"><line x1="{pad}" x2="{bar_x:.1f}" y1="{height - 6}" y2="{height - 6}"/>'
                 f'<text x="{bar_x + 4:.1f}" y="{height - 2}">{label}</text></g></svg>')
    return "".join(parts)
