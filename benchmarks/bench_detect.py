"""Benchmark: fixes per second through detectors.process on a 500-vertex route, on one core.

Usage: python benchmarks/bench_detect.py [--fixes 50000] [--vertices 500] [--seed 1] [--eta-rounds 3]
Drives the synthetic escort along the route (12 m/s, 1 Hz, 5 m noise, a 60-s traffic light
and a 500-m multipath jump per trip) until enough fixes exist, then times process() over all of them,
trip after trip, each from a fresh state. Prints progress, fixes/s and µs per fix.

Then the live ETA's cost per fix: the ETA step alone (as shipped, and with the route timed
by segment durations as a router gives them) against process() of the same fix mid-route,
each the best of --eta-rounds timings (a loaded machine only ever adds time).
"""

from __future__ import annotations

import argparse
import sys
import time
import timeit
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.tracking.synth import START, Drive, drive, make_route, plan_for  # noqa: E402
from tracking import detectors  # noqa: E402
from tracking.geo import haversine_m  # noqa: E402

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
    parser.add_argument("--eta-rounds", type=int, default=3)
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
    eta_cost(route, plan, laps, settings, args.eta_rounds)
    return 0


def eta_cost(route, plan, laps, settings, rounds: int) -> None:
    """Print what the live ETA step costs per fix, untimed and timed by segment durations, against process()."""
    durations = [haversine_m(*p, *q) / 9.0 for p, q in zip(route, route[1:])]
    timed = plan_for(route, appointment_at=plan.appointment_at, segment_durations_s=durations)
    # A state and fix from the middle of a real lap: the step sees what it sees on the road.
    lap = laps[0]
    state = detectors.DetectionState()
    for fix in lap[: len(lap) // 2]:
        state, _new, _reason = detectors.process(state, fix, plan, settings)
    fix = lap[len(lap) // 2]
    step_eta = detectors._eta
    calls = 20_000
    whole = min(timeit.repeat(lambda: detectors.process(state, fix, plan, settings), number=calls, repeat=rounds))
    whole_us = whole * 1e6 / calls
    print(f"process() of one fix mid-route: {whole_us:.2f} µs (best of {rounds} × {calls:,})")
    for name, p in (("ETA step, expected speed", plan), ("ETA step, timed by segment durations", timed)):
        best = min(timeit.repeat(lambda: step_eta(state, fix, p, settings, False, {}, []), number=calls, repeat=rounds))
        us = best * 1e6 / calls
        print(f"{name}: {us:.2f} µs per fix, {us / whole_us * 100:.1f} % of process()")


if __name__ == "__main__":
    sys.exit(main())
