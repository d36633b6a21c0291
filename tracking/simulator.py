"""Pure, seeded GPS traces along a route: realistic noise, traffic lights, stops and detours."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from tracking.fix import Fix
from tracking.geo import Projection, Route

RAMP_M = 60.0  # how far a detour takes to leave the route and to come back to it


@dataclass(frozen=True)
class Stop:
    """A halt at ``at_m`` along the route for ``duration_s``."""

    at_m: float
    duration_s: float


@dataclass(frozen=True)
class Detour:
    """A stretch from ``start_m`` to ``end_m`` driven ``offset_m`` to the left of the route."""

    start_m: float
    end_m: float
    offset_m: float


@dataclass(frozen=True)
class Scenario:
    """How one simulated escort drives a route."""

    route: tuple[tuple[float, float], ...]
    speed_mps: float = 11.0
    rate_hz: float = 1.0
    noise_m: float = 4.0
    stops: tuple[Stop, ...] = ()
    traffic_lights: tuple[Stop, ...] = ()
    detour: Detour | None = None


class _Path:
    """Position and left-hand normal at a distance along a projected route."""

    def __init__(self, route: Route) -> None:
        self.route = route

    def at(self, s_m: float) -> tuple[float, float, float, float]:
        """Return (x, y, nx, ny) at ``s_m`` metres along, with (nx, ny) the unit left normal."""
        r = self.route
        s_m = min(max(s_m, 0.0), r.length_m)
        i = max(0, min(len(r.cum_start_m) - 1, int(_bisect(r.cum_start_m, s_m)) - 1))
        t = (s_m - r.cum_start_m[i]) / r.seg_len_m[i]
        ux, uy = r.dx[i] / r.seg_len_m[i], r.dy[i] / r.seg_len_m[i]
        return float(r.x0[i] + t * r.dx[i]), float(r.y0[i] + t * r.dy[i]), -float(uy), float(ux)


def _bisect(values, x: float) -> int:
    """Return the insertion point of ``x`` in sorted ``values`` (right side)."""
    lo, hi = 0, len(values)
    while lo < hi:
        mid = (lo + hi) // 2
        if x < values[mid]:
            hi = mid
        else:
            lo = mid + 1
    return lo


def _offset(s_m: float, detour: Detour | None) -> float:
    """Return how far left of the route the vehicle is at ``s_m`` (ramping out and back)."""
    if detour is None or not detour.start_m <= s_m <= detour.end_m:
        return 0.0
    ramp = min(1.0, (s_m - detour.start_m) / RAMP_M, (detour.end_m - s_m) / RAMP_M)
    return detour.offset_m * ramp


def generate(scenario: Scenario, start: datetime, seed: int) -> list[Fix]:
    """Drive the scenario from ``start``; return one fix per 1/rate_hz seconds, seq from 1."""
    rng = random.Random(seed)
    route = Route(list(scenario.route))
    proj: Projection = route.projection
    path = _Path(route)
    halts = sorted(scenario.stops + scenario.traffic_lights, key=lambda h: h.at_m)
    dt = 1.0 / scenario.rate_hz
    fixes: list[Fix] = []
    s_m, t_s, speed, halted_until, battery = 0.0, 0.0, 0.0, None, 95.0
    cruise = scenario.speed_mps
    seq = 0
    while s_m < route.length_m:
        seq += 1
        x, y, nx, ny = path.at(s_m)
        off = _offset(s_m, scenario.detour)
        halted = halted_until is not None
        sigma = scenario.noise_m * (1.4 if halted else 1.0)  # a parked phone wanders a little more
        px, py = x + nx * off + rng.gauss(0, sigma), y + ny * off + rng.gauss(0, sigma)
        lat, lon = proj.to_latlon(px, py)
        heading = math.degrees(math.atan2(ny, -nx)) % 360  # travel direction (east, north) = (ny, -nx)
        fixes.append(Fix(lat=lat, lon=lon, ts=start + timedelta(seconds=t_s), seq=seq,
                         accuracy_m=round(rng.uniform(3, 12), 1), speed_mps=round(max(0.0, speed), 2),
                         heading_deg=round(heading, 1), battery_pct=round(battery, 1)))
        t_s += dt
        battery = max(5.0, battery - 0.002 * dt)
        if halted:
            if t_s >= halted_until:
                halted_until = None
            continue
        if halts and s_m >= halts[0].at_m:
            halted_until, speed = t_s + halts.pop(0).duration_s, 0.0
            continue
        # Speed wanders ±15 % around the cruise speed; start and restart ramp up.
        target = cruise * (1 + 0.15 * math.sin(t_s / 23.0 + seed))
        speed = min(target, speed + 2.5 * dt)
        step = speed * dt
        if off:  # a detour stretch is longer than the route stretch it replaces
            step *= 0.6
        s_m += step
    return fixes
