"""Benchmark: fixes per second through detectors.process on a 500-vertex route, on one core.

Usage: python benchmarks/bench_detect.py [--fixes 50000] [--vertices 500] [--seed 1]
Drives the synthetic escort along the route (12 m/s, 1 Hz, 5 m noise, a 60-s traffic light
and a 500-m multipath jump per trip) until enough fixes exist, then times process() over all of them,
trip after trip, each from a fresh state. Prints progress, fixes/s and µs per fix.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.tracking.synth import START, Drive, drive, make_route, plan_for  # noqa: E402
from tracking import detectors  # noqa: E402

TARGET_FIXES_PER_S = 20_000


def make_laps(route, fixes: int, seed: int) -> list[list]:
    """Return drives along the route, one per trip, until they hold ``fixes`` fixes in all."""
    laps, total, lap = [], 0, 0
    while total < fixes:
        spec = Drive(seed=seed + lap, stops=((3000.0, 60.0),), jumps=((400, 500.0),))
        spec = replace(spec, start=spec.start + timedelta(hours=lap))
        laps.append(drive(route, spec).fixes[: fixes - total])
        total += len(laps[-1])
        lap += 1
        print(f"  generated {total:>6} fixes ({lap} trips)", flush=True)
    return laps


def main() -> int:
    """Build the route and the fixes, time process() over them, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fixes", type=int, default=50_000)
    parser.add_argument("--vertices", type=int, default=500)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    route = make_route(args.vertices, seed=args.seed)
    # An appointment keeps the ETA and lateness check in the measured path.
    plan = plan_for(route, appointment_at=START + timedelta(hours=1))
    print(f"route: {args.vertices} vertices, {plan.route.length_m / 1000:.1f} km; generating fixes…", flush=True)
    laps = make_laps(route, args.fixes, args.seed)
    settings = detectors.DetectionSettings()
    process = detectors.process

    done, events, skipped = 0, 0, 0
    started = time.perf_counter()
    for i, fixes in enumerate(laps, 1):
        state = detectors.DetectionState()
        for fix in fixes:
            state, new, reason = process(state, fix, plan, settings)
            events += len(new)
            skipped += reason is not None
        done += len(fixes)
        elapsed = time.perf_counter() - started
        print(f"  trip {i:>3}/{len(laps)}: {done:>6} fixes, {done / elapsed:>8,.0f} fixes/s", flush=True)
    elapsed = time.perf_counter() - started

    rate = done / elapsed
    print(f"processed {done} fixes in {elapsed:.2f} s: {rate:,.0f} fixes/s, {1e6 / rate:.1f} µs/fix "
          f"({events} events, {skipped} skipped); target ≥ {TARGET_FIXES_PER_S:,} fixes/s: "
          f"{'met' if rate >= TARGET_FIXES_PER_S else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
