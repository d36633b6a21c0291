"""Recorded traces in (GPX, CSV) and the evaluation's scenario transforms (pure, seeded)."""

from __future__ import annotations

import csv
import io
import math
import random
from bisect import bisect_left
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import gpxpy

from tracking.fix import Fix
from tracking.geo import Projection


class TraceError(ValueError):
    """A trace file that cannot be read; the message says why."""


def read_trace(path: Path) -> list[Fix]:
    """Read a GPX track or a logger CSV (DATE, TIME, LATITUDE, N/S, LONGITUDE, E/W) into fixes."""
    text = path.read_text(errors="replace")
    if path.suffix.lower() == ".gpx":
        try:
            gpx = gpxpy.parse(text)
        except Exception as exc:  # noqa: BLE001  (gpxpy raises several types for broken XML)
            raise TraceError(f"{path.name}: not a readable GPX file ({str(exc)[:80]})") from None
        points = [p for t in gpx.tracks for s in t.segments for p in s.points if p.time is not None]
        fixes = [Fix(lat=p.latitude, lon=p.longitude, ts=p.time.astimezone(timezone.utc), seq=i + 1)
                 for i, p in enumerate(points)]
    elif path.suffix.lower() == ".csv":
        fixes = _read_logger_csv(text, path.name)
    else:
        raise TraceError(f"{path.name}: only .gpx and .csv traces are read")
    if len(fixes) < 10:
        raise TraceError(f"{path.name}: fewer than 10 timed points")
    return fixes


def _read_logger_csv(text: str, name: str) -> list[Fix]:
    """Read the CSV form of GPS loggers such as the Holux M-241."""
    fixes = []
    for i, row in enumerate(csv.DictReader(io.StringIO(text))):
        try:
            ts = datetime.strptime(f"{row['DATE']} {row['TIME']}", "%Y/%m/%d %H:%M:%S.%f").replace(tzinfo=timezone.utc)
            lat = float(row["LATITUDE"]) * (-1 if row["N/S"].strip() == "S" else 1)
            lon = float(row["LONGITUDE"]) * (-1 if row["E/W"].strip() == "W" else 1)
        except (KeyError, ValueError) as exc:
            raise TraceError(f"{name}: row {i + 2} is not a logger fix ({exc})") from None
        fixes.append(Fix(lat=lat, lon=lon, ts=ts, seq=i + 1))
    return fixes


def _renumber(fixes: list[Fix]) -> list[Fix]:
    """Return the fixes with seq 1..N."""
    return [replace(f, seq=i + 1) for i, f in enumerate(fixes)]


def resample(fixes: list[Fix], every_s: float) -> list[Fix]:
    """Keep one fix per ``every_s`` seconds, as a phone reporting less often would send."""
    kept, next_ts = [], None
    for fix in fixes:
        if next_ts is None or fix.ts >= next_ts:
            kept.append(fix)
            next_ts = fix.ts + timedelta(seconds=every_s)
    return _renumber(kept)


def _along_m(fixes: list[Fix], proj: Projection) -> list[float]:
    """Return cumulative path length at each fix."""
    out, total, prev = [], 0.0, None
    for fix in fixes:
        xy = proj.to_xy(fix.lat, fix.lon)
        if prev is not None:
            total += math.dist(prev, xy)
        out.append(total)
        prev = xy
    return out


@dataclass(frozen=True)
class Injected:
    """A transformed trace and, for an injected event, when it truly began (None if nothing)."""

    fixes: list[Fix]
    event_at: datetime | None = None
    event_end: datetime | None = None


def inject_detour(fixes: list[Fix], offset_m: float, *, corridor_m: float, stretch_m: float = 900.0,
                  ramp_m: float = 80.0) -> Injected:
    """Move a stretch of the drive ``offset_m`` to one side, where it really leaves the route.

    A winding road can bring a sideways-moved stretch back near another part of the same
    road, which is no detour at all; so every candidate stretch (a fifth to four fifths of
    the way, either side) is tried and the one that stays farthest from the whole route is
    used. The event is the first fix moved farther than ``corridor_m``.
    """
    from tracking.geo import Route

    proj = Projection.about([(f.lat, f.lon) for f in fixes])
    route = Route([(f.lat, f.lon) for f in fixes], proj)
    along = _along_m(fixes, proj)
    best: tuple[float, list[Fix], datetime | None, datetime | None] | None = None
    for start_frac in (0.2, 0.3, 0.4, 0.5, 0.6):
        s0 = along[-1] * start_frac
        s1 = min(s0 + stretch_m, along[-1] * 0.85)
        for side in (1.0, -1.0):
            moved, event_at, event_end, clearance = _moved(fixes, along, proj, route, s0, s1, side * offset_m,
                                                           corridor_m, ramp_m)
            if best is None or clearance > best[0]:
                best = (clearance, moved, event_at, event_end)
    _, moved, event_at, event_end = best
    return Injected(moved, event_at, event_end)


def _moved(fixes, along, proj, route, s0, s1, offset_m, corridor_m, ramp_m):
    """Shift fixes between s0 and s1 sideways; return them, the event span and the clearance."""
    out, event_at, event_end, clearance = [], None, None, math.inf
    for i, fix in enumerate(fixes):
        s = along[i]
        if not s0 <= s <= s1:
            out.append(fix)
            continue
        ramp = min(1.0, (s - s0) / ramp_m, (s1 - s) / ramp_m)
        # The road's direction over ±40 m, not between two jittery fixes: a slow 1 Hz log
        # wobbles, and a normal taken fix to fix would throw the moved points side to side.
        j0 = max(0, bisect_left(along, s - 40.0))
        j1 = min(len(fixes) - 1, bisect_left(along, s + 40.0))
        (xa, ya), (xb, yb) = proj.to_xy(fixes[j0].lat, fixes[j0].lon), proj.to_xy(fixes[j1].lat, fixes[j1].lon)
        x, y = proj.to_xy(fix.lat, fix.lon)
        dx, dy = xb - xa, yb - ya
        norm = math.hypot(dx, dy) or 1.0
        off = offset_m * ramp
        nx, ny = x - dy / norm * off, y + dx / norm * off
        lat, lon = proj.to_latlon(nx, ny)
        out.append(replace(fix, lat=lat, lon=lon))
        if abs(off) > corridor_m:
            event_at = event_at or fix.ts
            event_end = fix.ts
            clearance = min(clearance, route.locate_xy(nx, ny).distance_m)
    return out, event_at, event_end, clearance


def inject_stop(fixes: list[Fix], duration_s: float, *, stop_after_s: float, at_frac: float = 0.5,
                jitter_m: float = 4.0, seed: int = 1) -> Injected:
    """Halt the drive for ``duration_s`` at 1 Hz mid-way; the event is ``stop_after_s`` into it."""
    from tracking.geo import haversine_m

    rng = random.Random(seed)
    k = int(len(fixes) * at_frac)
    here = fixes[k]
    proj = Projection(here.lat, here.lon)
    # If the drive was already standing here, the stop truly began when it arrived.
    began = k
    while began > 0 and haversine_m(fixes[began - 1].lat, fixes[began - 1].lon, here.lat, here.lon) < 20:
        began -= 1
    halt = []
    for t in range(1, int(duration_s) + 1):
        lat, lon = proj.to_latlon(rng.gauss(0, jitter_m), rng.gauss(0, jitter_m))
        halt.append(Fix(lat=lat, lon=lon, ts=here.ts + timedelta(seconds=t)))
    shift = timedelta(seconds=int(duration_s) + 1)
    later = [replace(f, ts=f.ts + shift) for f in fixes[k + 1:]]
    return Injected(_renumber(fixes[: k + 1] + halt + later), fixes[began].ts + timedelta(seconds=stop_after_s))


def add_noise(fixes: list[Fix], *, sigma_m: float = 8.0, jump_every: int = 60, jump_m: float = 500.0,
              seed: int = 1) -> list[Fix]:
    """Add Gaussian jitter and, every ``jump_every`` fixes, one multipath jump."""
    rng = random.Random(seed)
    out = []
    for i, fix in enumerate(fixes):
        proj = Projection(fix.lat, fix.lon)
        dx, dy = rng.gauss(0, sigma_m), rng.gauss(0, sigma_m)
        if i and i % jump_every == 0:
            angle = rng.uniform(0, 2 * math.pi)
            dx, dy = dx + jump_m * math.cos(angle), dy + jump_m * math.sin(angle)
        lat, lon = proj.to_latlon(dx, dy)
        out.append(replace(fix, lat=lat, lon=lon))
    return out
