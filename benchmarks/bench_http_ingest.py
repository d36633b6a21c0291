"""Benchmark: fixes per second over HTTP on a real gunicorn (gevent) server.

Usage: python benchmarks/bench_http_ingest.py [--clients 20] [--seconds 15] [--batch 100]
Two runs against one server: OsmAnd query requests (one fix each, as Traccar Client sends),
then POST /api/v1/fixes with ``--batch`` fixes per request (a device flushing its queue).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import requests  # noqa: E402

from benchmarks.bench_device_ingest import seed  # noqa: E402
from tests.live import LiveServer  # noqa: E402


def osmand(url: str, token: str, stop: threading.Event, counts: list[int], index: int) -> None:
    """Send one OsmAnd request per fix, as fast as the server answers."""
    http = requests.Session()
    start = datetime.now(timezone.utc) - timedelta(hours=3)
    seq = 0
    while not stop.is_set():
        seq += 1
        ts = int((start + timedelta(seconds=seq)).timestamp())
        query = urlencode({"id": token, "lat": 51.5 + (seq % 400) * 1e-4, "lon": -0.12 + index * 1e-6,
                           "timestamp": ts, "speed": 20})
        if http.post(f"{url}/osmand?{query}", timeout=30).status_code != 200:
            raise SystemExit("osmand request refused")
        counts[index] += 1


def batches(url: str, token: str, stop: threading.Event, counts: list[int], index: int, size: int) -> None:
    """POST lists of ``size`` fixes, as a tablet flushing its offline queue does."""
    http = requests.Session()
    start = datetime.now(timezone.utc) - timedelta(hours=2)
    seq = 10_000_000
    while not stop.is_set():
        body = []
        for _ in range(size):
            seq += 1
            body.append({"seq": seq, "lat": 51.5 + (seq % 400) * 1e-4, "lon": -0.12,
                         "ts": (start + timedelta(milliseconds=100 * (seq - 10_000_000))).isoformat()})
        resp = http.post(f"{url}/api/v1/fixes", json=body, headers={"Authorization": f"Bearer {token}"}, timeout=60)
        if resp.status_code != 200 or resp.json()["rejected"]:
            raise SystemExit(f"batch refused: {resp.text[:200]}")
        counts[index] += size


def measure(name: str, target, url: str, tokens: list[str], seconds: float, *extra) -> None:
    """Run one kind of load and print its rate."""
    stop = threading.Event()
    counts = [0] * len(tokens)
    threads = [threading.Thread(target=target, args=(url, t, stop, counts, i, *extra), daemon=True)
               for i, t in enumerate(tokens)]
    for t in threads:
        t.start()
    time.sleep(1.0)
    begin, base = time.perf_counter(), sum(counts)
    while time.perf_counter() - begin < seconds:
        time.sleep(min(5.0, seconds))
        print(f"  {name}: {time.perf_counter() - begin:5.1f} s, {sum(counts) - base} fixes", flush=True)
    done, elapsed = sum(counts) - base, time.perf_counter() - begin
    stop.set()
    for t in threads:
        t.join(timeout=60)
    print(f"{name}: {done / elapsed:,.0f} fixes/s ({len(tokens)} clients, {elapsed:.1f} s)", flush=True)


def main() -> None:
    """Seed, serve, and measure both HTTP paths."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--batch", type=int, default=100)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="escort-bench-"))
    url = f"sqlite:///{tmp / 'bench.db'}"
    print(f"seeding {args.clients} devices …", flush=True)
    tokens = seed(url, args.clients)
    with LiveServer(url, tmp) as server:
        measure("osmand", osmand, server.url, tokens, args.seconds)
        measure(f"/api/v1/fixes, {args.batch} a request", batches, server.url, tokens, args.seconds, args.batch)


if __name__ == "__main__":
    main()
