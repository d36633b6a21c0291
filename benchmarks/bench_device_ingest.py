"""Benchmark: fixes per second acknowledged through /device on a real gunicorn (gevent) server.

Usage: python benchmarks/bench_device_ingest.py [--clients 100] [--seconds 20] [--database-url URL]
Starts its own server on a temporary SQLite database (or the URL given), registers one device
per client with a trip under way, and has every client send fixes back to back, each waiting for
its ack. Prints progress every few seconds, then fixes/s and ack latency percentiles.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import socketio  # noqa: E402
from sqlmodel import Session  # noqa: E402

from app.db import make_engine, upgrade  # noqa: E402
from tests.live import LiveServer  # noqa: E402


def seed(url: str, clients: int) -> list[str]:
    """Create one escort, device and trip under way per client; return the device tokens."""
    from app.auth import create_user
    from dispatch import trips
    from patients.models import Patient
    from tracking.devices import create_device

    engine = make_engine(url)
    upgrade(engine)
    now = datetime.now(timezone.utc)
    tokens = []
    with Session(engine, expire_on_commit=False) as s:
        boss = create_user(s, "bench-dispatch", "dispatcher", "bench-password", now=now)
        patient = Patient(name="Bench", contacts=[], created_at=now)
        s.add(patient)
        s.flush()
        route = [[51.50 + i * 0.001, -0.12] for i in range(50)]
        for i in range(clients):
            escort = create_user(s, f"bench-escort-{i}", "escort", None, now=now)
            device, token = create_device(s, f"bench-{i}", escort, now=now)
            trip = trips.create_trip(s, patient_id=patient.id, escort=escort.username, device_id=device.id,
                                     pickup={"lat": 51.5, "lon": -0.12}, dropoff={"lat": 51.549, "lon": -0.12},
                                     route=route, settings={}, scheduled_pickup_at=now, appointment_at=None,
                                     user=boss, now=now)
            trips.change_status(s, trip, "en_route_pickup", escort, now=now)
            tokens.append(token)
        s.commit()
    return tokens


def drive(url: str, token: str, stop: threading.Event, latencies: list[float], index: int) -> None:
    """Send fixes back to back, each waiting for its ack, until told to stop."""
    client = socketio.Client(reconnection=False)
    client.connect(url, namespaces=["/device"], auth={"token": token}, transports=["websocket"], wait_timeout=20)
    seq = 0
    start = datetime.now(timezone.utc) - timedelta(minutes=30)
    while not stop.is_set():
        seq += 1
        fix = {"seq": seq, "lat": 51.50 + (seq % 400) * 1e-4, "lon": -0.12 + index * 1e-6,
               "ts": (start + timedelta(seconds=seq)).isoformat(), "speed_mps": 10.0}
        t0 = time.perf_counter()
        ack = client.call("fix", fix, namespace="/device", timeout=30)
        latencies.append(time.perf_counter() - t0)
        if not ack.get("ok"):
            raise SystemExit(f"refused: {ack}")
    client.disconnect()


def main() -> None:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="escort-bench-"))
    url = args.database_url or f"sqlite:///{tmp / 'bench.db'}"
    print(f"seeding {args.clients} devices on {url.split('@')[-1]} …", flush=True)
    tokens = seed(url, args.clients)
    with LiveServer(url, tmp) as server:
        stop = threading.Event()
        latencies: list[float] = []
        threads = [threading.Thread(target=drive, args=(server.url, t, stop, latencies, i), daemon=True)
                   for i, t in enumerate(tokens)]
        for t in threads:
            t.start()
        time.sleep(2.0)  # let every client connect before measuring
        begin_count, begin = len(latencies), time.perf_counter()
        while time.perf_counter() - begin < args.seconds:
            time.sleep(min(5.0, args.seconds))
            done = len(latencies) - begin_count
            print(f"  {time.perf_counter() - begin:5.1f} s: {done} fixes acked", flush=True)
        count, elapsed = len(latencies) - begin_count, time.perf_counter() - begin
        stop.set()
        for t in threads:
            t.join(timeout=30)
    window = sorted(latencies[begin_count:begin_count + count])
    print(f"clients: {args.clients}  duration: {elapsed:.1f} s")
    print(f"fixes acked: {count}  throughput: {count / elapsed:,.0f} fixes/s")
    print(f"ack latency: p50 {statistics.median(window) * 1000:.1f} ms  "
          f"p99 {window[int(len(window) * 0.99)] * 1000:.1f} ms")


if __name__ == "__main__":
    main()
