"""Benchmark: time from a device's ``panic`` to the alert at a connected dispatcher (real server).

Usage: python benchmarks/bench_panic.py [--tries 300] [--background-devices 50]
Prints p50, p99 and max over the tries; target p99 under 1 s.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import socketio  # noqa: E402
from sqlmodel import Session  # noqa: E402

from benchmarks.bench_device_ingest import drive, seed  # noqa: E402
from tests.live import LiveServer  # noqa: E402


def main() -> None:
    """Seed, serve, stream background load, and time panics end to end."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tries", type=int, default=300)
    parser.add_argument("--background-devices", type=int, default=50)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="escort-bench-"))
    url = f"sqlite:///{tmp / 'bench.db'}"
    tokens = seed(url, args.background_devices + 1)
    from app.auth import create_api_token, find_user
    from app.db import make_engine, utcnow

    with Session(make_engine(url), expire_on_commit=False) as s:
        api_token = create_api_token(s, find_user(s, "bench-dispatch"), now=utcnow())
        s.commit()
    with LiveServer(url, tmp) as server:
        stop = threading.Event()
        load = [threading.Thread(target=drive, args=(server.url, t, stop, [], i), daemon=True)
                for i, t in enumerate(tokens[1:])]
        for t in load:
            t.start()
        got = threading.Event()
        dispatcher = socketio.Client()
        dispatcher.on("alert", lambda data: got.set() if data["kind"] == "panic" else None, namespace="/dispatch")
        dispatcher.connect(server.url, namespaces=["/dispatch"], auth={"token": api_token}, transports=["websocket"])
        device = socketio.Client()
        device.connect(server.url, namespaces=["/device"], auth={"token": tokens[0]}, transports=["websocket"])
        print(f"{args.background_devices} devices streaming in the background; {args.tries} panics …", flush=True)
        times = []
        for i in range(args.tries):
            got.clear()
            t0 = time.perf_counter()
            device.emit("panic", {}, namespace="/device")
            if not got.wait(10):
                raise SystemExit(f"panic {i} never reached the dispatcher")
            times.append(time.perf_counter() - t0)
            if i % 100 == 99:
                print(f"  {i + 1} panics", flush=True)
            time.sleep(0.02)
        stop.set()
        device.disconnect()
        dispatcher.disconnect()
    times.sort()
    print(f"panic to dispatcher: p50 {statistics.median(times) * 1000:.1f} ms  "
          f"p99 {times[int(len(times) * 0.99) - 1] * 1000:.1f} ms  max {times[-1] * 1000:.1f} ms")


if __name__ == "__main__":
    main()
