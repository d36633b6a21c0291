"""Benchmark: detection alone (filter + step), fixes per second on one core, 500-vertex route.

Usage: python benchmarks/bench_detect.py [--fixes 50000]
Target: at least 20,000 fixes/s (50 µs a fix).
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tracking.detectors import DetectionSettings, DetectionState, build_plan, process  # noqa: E402
from tracking.simulator import Scenario, Stop, generate  # noqa: E402


def winding_route(vertices: int) -> list[tuple[float, float]]:
    """Return a winding (lat, lon) route of ``vertices`` points, about 25 km long."""
    return [(51.45 + 0.0004 * i + 0.002 * math.sin(i / 15), -0.20 + 0.0005 * i + 0.002 * math.cos(i / 11))
            for i in range(vertices)]


def main() -> None:
    """Build the route and a long noisy trace, then time process() over it."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fixes", type=int, default=50_000)
    args = parser.parse_args()
    route = winding_route(500)
    plan = build_plan(route=route, pickup=(*route[0], 60.0), dropoff=(*route[-1], 60.0),
                      appointment_at=datetime(2026, 3, 1, 12, tzinfo=timezone.utc))
    print(f"route: 500 vertices, {plan.route.length_m / 1000:.1f} km; generating {args.fixes} fixes …", flush=True)
    fixes = []
    lap = 0
    while len(fixes) < args.fixes:
        start = fixes[-1].ts if fixes else datetime(2026, 3, 1, 9, tzinfo=timezone.utc)
        fixes.extend(generate(Scenario(route=tuple(route), rate_hz=1.0, stops=(Stop(9000, 200),)), start, seed=lap))
        lap += 1
    fixes = fixes[: args.fixes]
    settings = DetectionSettings()
    state = DetectionState()
    events = 0
    print("timing detection …", flush=True)
    began = time.perf_counter()
    for i, fix in enumerate(fixes):
        if fix.seq == 1:
            state = DetectionState()  # a new lap is a new trip
        state, evs, _ = process(state, fix, plan, settings)
        events += len(evs)
        if i and i % 10_000 == 0:
            print(f"  {i} fixes, {i / (time.perf_counter() - began):,.0f} fixes/s", flush=True)
    elapsed = time.perf_counter() - began
    print(f"detection: {len(fixes)} fixes in {elapsed:.2f} s = {len(fixes) / elapsed:,.0f} fixes/s "
          f"({elapsed / len(fixes) * 1e6:.1f} µs a fix), {events} events")


if __name__ == "__main__":
    main()
