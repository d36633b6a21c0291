"""Seeded synthetic drives along a route, with ground truth, for the detector tests and benchmark."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

import numpy as np
import shapely

from tracking import detectors
from tracking.fix import Fix
from tracking.geo import Projection

ORIGIN = (51.5074, -0.1278)  # (lat, lon)
START = datetime(2026, 3, 2, 8, 0, tzinfo=timezone.utc)
ACCEL_MPS2 = 2.0   # braking and pulling away
RAMP_M = 80.0      # route distance a detour takes to reach its full offset, and to come back


def make_route(n_vertices: int = 500, seed: int = 0, origin: tuple[float, float] = ORIGIN) -> list[tuple[float, float]]:
    """Return a meandering (lat, lon) route that never crosses itself (it always heads broadly east)."""
    rng = random.Random(seed)
    proj = Projection(*origin)
    x = y = heading = 0.0
    points = [proj.to_latlon(x, y)]
    for _ in range(n_vertices - 1):
        heading = min(1.1, max(-1.1, heading + rng.gauss(0, 0.25)))
        length = rng.uniform(15, 55)
        x, y = x + length * math.cos(heading), y + length * math.sin(heading)
        points.append(proj.to_latlon(x, y))
    return points


def plan_for(route: list[tuple[float, float]], radius_m: float = 50.0, **kwargs) -> detectors.TripPlan:
    """Return a plan on the route with pickup and drop-off circles at its ends."""
    return detectors.build_plan(route=route, pickup=(*route[0], radius_m), dropoff=(*route[-1], radius_m), **kwargs)


@dataclass(frozen=True)
class Drive:
    """How the synthetic escort drives: speed, sampling, noise and what happens on the way."""

    speed_mps: float = 12.0
    interval_s: int = 1
    noise_m: float = 5.0
    seed: int = 0
    stops: tuple[tuple[float, float], ...] = ()        # (at_m along the route, duration_s)
    detour: tuple[float, float, float] | None = None   # (start_m, end_m, offset_m to the left)
    jumps: tuple[tuple[int, float], ...] = ()          # (t_s, distance_m): that one fix lands far away
    start: datetime = START
    until_m: float | None = None                       # stop driving here (default: the route's end)
    dwell_s: int = 60                                  # then stand there this long, still reporting


@dataclass
class Trace:
    """The fixes a drive produced, and what really happened second by second."""

    fixes: list[Fix]
    times: list[datetime] = field(default_factory=list)      # one per simulated second
    off_route_m: list[float] = field(default_factory=list)   # true distance to the route then
    stop_starts: list[datetime] = field(default_factory=list)

    def first_time(self, predicate, after: datetime | None = None) -> datetime | None:
        """Return the first simulated second whose true off-route distance satisfies ``predicate``."""
        for ts, off in zip(self.times, self.off_route_m):
            if (after is None or ts >= after) and predicate(off):
                return ts
        return None


def drive(route: list[tuple[float, float]], spec: Drive = Drive()) -> Trace:
    """Drive the route second by second; emit a noisy fix every ``interval_s`` seconds."""
    rng = random.Random(spec.seed)
    proj = Projection(*ORIGIN)
    xy = np.array([proj.to_xy(lat, lon) for lat, lon in route])
    seg = np.hypot(*np.diff(xy, axis=0).T)
    cum = np.concatenate(([0.0], np.cumsum(seg)))
    end_m = cum[-1] if spec.until_m is None else min(spec.until_m, cum[-1])
    stops = sorted(spec.stops)
    jumps = dict(spec.jumps)
    trace = Trace(fixes=[])
    true_xy = []
    s_m, v, t, halted_until, dwell_s = 0.0, 0.0, 0, None, spec.dwell_s
    while True:
        x, y = _position(xy, cum, seg, s_m, _offset(s_m, spec.detour))
        ts = spec.start + timedelta(seconds=t)
        trace.times.append(ts)
        true_xy.append((x, y))
        if t % spec.interval_s == 0:
            fx, fy = x + rng.gauss(0, spec.noise_m), y + rng.gauss(0, spec.noise_m)
            if t in jumps:
                angle = rng.uniform(0, 2 * math.pi)
                fx, fy = fx + jumps[t] * math.cos(angle), fy + jumps[t] * math.sin(angle)
            lat, lon = proj.to_latlon(fx, fy)
            trace.fixes.append(Fix(lat=lat, lon=lon, ts=ts, seq=len(trace.fixes) + 1,
                                   accuracy_m=round(rng.uniform(3, 12), 1)))
        if s_m >= end_m and halted_until is None:
            if dwell_s <= 0:
                break
            dwell_s -= 1
        t += 1
        if halted_until is not None:
            if t >= halted_until:
                halted_until = None
            continue
        allowed = math.sqrt(2 * ACCEL_MPS2 * max(0.0, stops[0][0] - s_m)) if stops else math.inf
        v = min(spec.speed_mps, v + ACCEL_MPS2, allowed)
        if stops and s_m + v >= stops[0][0]:
            s_m, v = stops[0][0], 0.0
            halted_until = t + stops.pop(0)[1]
            trace.stop_starts.append(spec.start + timedelta(seconds=t))
        else:
            s_m = min(end_m, s_m + v)
    line = shapely.LineString(xy)
    trace.off_route_m = shapely.distance(line, shapely.points(true_xy)).tolist()
    return trace


def _offset(s_m: float, detour: tuple[float, float, float] | None) -> float:
    """Return how far left of the route the escort is at ``s_m``, ramping out and back."""
    if detour is None or not detour[0] <= s_m <= detour[1]:
        return 0.0
    start_m, end_m, offset_m = detour
    return offset_m * min(1.0, (s_m - start_m) / RAMP_M, (end_m - s_m) / RAMP_M)


def _position(xy: np.ndarray, cum: np.ndarray, seg: np.ndarray, s_m: float, left_m: float) -> tuple[float, float]:
    """Return the (x, y) at ``s_m`` along the polyline, shifted ``left_m`` to its left."""
    i = int(min(len(seg) - 1, max(0, np.searchsorted(cum, s_m, side="right") - 1)))
    ux, uy = (xy[i + 1] - xy[i]) / seg[i]
    t = s_m - cum[i]
    return float(xy[i][0] + t * ux - left_m * uy), float(xy[i][1] + t * uy + left_m * ux)


def replay(fixes: list[Fix], plan: detectors.TripPlan,
           settings: detectors.DetectionSettings | None = None) -> tuple[detectors.DetectionState, list[detectors.Event]]:
    """Run ``process`` over the fixes from a fresh state; return the final state and all events."""
    settings = settings or detectors.DetectionSettings()
    state, events = detectors.DetectionState(), []
    for fix in fixes:
        state, new, _skipped = detectors.process(state, fix, plan, settings)
        events.extend(new)
    return state, events


def alerts(events: list[detectors.Event], kind: str, action: str = "raise") -> list[detectors.Event]:
    """Return the events of one kind and action."""
    return [e for e in events if e.kind == kind and e.action == action]
