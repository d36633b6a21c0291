"""Benchmark: the CPU the pipeline spends a fix, in this process, without sockets or a server.

Usage: python benchmarks/bench_pipeline.py [--devices 100] [--group 7] [--rounds 60] [--repeats 5]
                                           [--route-vertices 50] [--database-url URL]

What ``bench_load.py`` measures end to end, less the Socket.IO and the load generator: the
devices' fixes go through ``dispatch.ingest.run_group`` in groups of ``--group`` devices, one
transaction a group, then ``publish_group`` (counting and the screens' fan-out, with no screen
connected), exactly as the group committer runs them. Trips are on board along a route of
``--route-vertices`` points. Prints progress, then the CPU microseconds a fix of this process
(``time.process_time``) for each repeat and their median: a figure that a busy machine
disturbs far less than a throughput, for comparing two versions of the pipeline. Shapes:
``--group 7`` is the fleet shape of ``bench_load.py latency`` (1,000 devices every 5 s gather
about 7 fixes a transaction), ``--group 32`` is ``throughput`` flat out.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.bench_load import ROUTE, fix_payload, make_route, seed  # noqa: E402


def main() -> None:
    """Seed, warm up, then time repeats of the same number of groups."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=100)
    parser.add_argument("--group", type=int, default=7, help="devices a transaction carries")
    parser.add_argument("--rounds", type=int, default=60, help="fixes each device sends in a repeat")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--route-vertices", type=int, default=len(ROUTE))
    parser.add_argument("--database-url", default=None, help="an empty database (default: SQLite in a temp folder)")
    args = parser.parse_args()
    if args.group < 1 or args.devices < args.group:
        parser.error("--group must be between 1 and --devices")

    work = Path(tempfile.mkdtemp(prefix="escort-bench-pipeline-"))
    env = {"DATABASE_URL": args.database_url or f"sqlite:///{work / 'bench.db'}",
           "SECRET_KEY": "bench-pipeline-secret-0123456789abcdef", "ESCORT_INSTANCE_PATH": str(work),
           "ESCORT_TILE_URL": ""}
    os.environ.update(env)
    started = time.perf_counter()
    seeded = seed(env, args.devices, with_trips=True, route=make_route(args.route_vertices))
    print(f"seeded {args.devices} devices with trips on board along {args.route_vertices}-vertex routes "
          f"in {time.perf_counter() - started:.1f} s; database {env['DATABASE_URL']}", flush=True)

    from sqlmodel import select

    from app import create_app
    from app.config import Config
    from app.db import session_scope
    from dispatch import ingest
    from tracking.devices import DeviceRef
    from tracking.models import Device

    app = create_app(Config.from_env(dict(os.environ, ESCORT_ASYNC_MODE="threading")))
    ext = app.extensions["escort"]
    with session_scope(ext.engine) as s:
        owners = dict(s.exec(select(Device.id, Device.escort_user_id)).all())
    devices = [DeviceRef(device_id, owners[device_id]) for _, device_id in seeded.devices]
    base = datetime.now(timezone.utc) - timedelta(hours=2)
    seq = 0

    def one_repeat() -> tuple[float, int]:
        """Send ``rounds`` fixes from every device in groups; return (CPU seconds, fixes stored)."""
        nonlocal seq
        cpu, stored = 0.0, 0
        for _ in range(args.rounds):
            seq += 1
            ts = base + timedelta(seconds=seq)
            now = base + timedelta(seconds=seq, milliseconds=300)
            groups = [[ingest.pending(d, [fix_payload(i, seq, ts)], now=now, limits=ext.limits,
                                      trip_cache=ext.active_trips, zone_cache=ext.zones)
                       for i, d in enumerate(devices[lo:lo + args.group], start=lo)]
                      for lo in range(0, len(devices), args.group)]
            began = time.process_time()  # a clock read is a system call: once a round, not once a group
            for group in groups:
                with session_scope(ext.engine) as session:
                    ingest.run_group(session, group)
                ingest.publish_group(group)
            cpu += time.process_time() - began
            stored += sum(len(p.result.stored) for group in groups for p in group)
        return cpu, stored

    one_repeat()  # warm up: caches filled, statements prepared
    per_fix_us = []
    for r in range(args.repeats):
        cpu, stored = one_repeat()
        if stored != args.rounds * len(devices):
            raise SystemExit(f"error: {stored} of {args.rounds * len(devices)} fixes stored")
        per_fix_us.append(cpu / stored * 1e6)
        print(f"  repeat {r + 1}/{args.repeats}: {stored} fixes, {per_fix_us[-1]:.0f} µs of CPU a fix", flush=True)
    print(f"pipeline CPU a fix, groups of {args.group}, {args.route_vertices}-vertex routes: "
          f"median {statistics.median(per_fix_us):.0f} µs (range {min(per_fix_us):.0f}–{max(per_fix_us):.0f})")


if __name__ == "__main__":
    main()
