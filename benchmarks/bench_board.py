"""Benchmark: the day's board in Chromium with 500 trips today, 200 of them under way.

Usage: python benchmarks/bench_board.py [--trips 500] [--under-way 200] [--repeat 5]
                                        [--database-url postgresql+psycopg://postgres@127.0.0.1/escort_bench]
Seeds the database (200 escorts, each with a tablet token), serves it with the real app on
gunicorn (gevent, one worker, as deployed), opens /dispatch/board in headless Chromium as a
dispatcher and measures, over the wire and in the page as a person would see it:
the board's load (navigation until the live snapshot is applied), a status change reaching its
row (the row moves to its new group), and one fix from every trip under way reaching every row.
Prints the median and the slowest of ``--repeat`` runs. Without --database-url a fresh SQLite
file is used; a PostgreSQL database given is emptied first.
"""

from __future__ import annotations

import argparse
import random
import shutil
import statistics
import sys
import tempfile
import time
from datetime import datetime, time as dtime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import requests  # noqa: E402
from sqlalchemy import text  # noqa: E402
from sqlmodel import Session  # noqa: E402

from app import crypto  # noqa: E402
from app.auth import create_api_token, create_user  # noqa: E402
from app.db import make_engine, upgrade  # noqa: E402
from dispatch import trips as trips_mod  # noqa: E402
from patients.models import Patient  # noqa: E402
from tests.live import LiveServer  # noqa: E402
from tracking.devices import create_device  # noqa: E402

PASSWORD = "bench-password-123"
UNDER_WAY_PATH = ("en_route_pickup", "arrived_pickup", "on_board")


def seed(url: str, n_trips: int, n_under_way: int, instance_path: Path) -> dict:
    """Seed a dispatcher, escorts with tablets, patients and today's trips; return tokens and ids."""
    crypto.install(crypto.keyring_for(None, instance_path))
    rng = random.Random(14)
    engine = make_engine(url)
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    upgrade(engine)
    now = datetime.now(timezone.utc).replace(microsecond=0)
    day_start = datetime.combine(now.date(), dtime(0), tzinfo=timezone.utc)
    with Session(engine, expire_on_commit=False) as s:
        dan = create_user(s, "dan", "dispatcher", PASSWORD, now=now)
        token = create_api_token(s, dan, now=now)
        escorts, devices = [], []
        for i in range(n_under_way):
            escort = create_user(s, f"escort{i:03d}", "escort", None, now=now)
            device, device_token = create_device(s, f"tablet{i:03d}", escort, now=now)
            escorts.append(escort)
            devices.append((device.id, device_token))
        patients = [Patient(name=f"Patient {i:04d}", created_at=now) for i in range(n_trips)]
        s.add_all(patients)
        s.flush()
        under_way, assigned = [], []
        print(f"seeding {n_trips} trips, {n_under_way} under way …", flush=True)
        for i in range(n_trips):
            pickup_at = day_start + timedelta(seconds=int(86000 * i / n_trips))
            escort = escorts[i % len(escorts)].username if i < n_under_way or rng.random() < 0.7 else None
            trip = trips_mod.create_trip(
                s, patient_id=patients[i].id, escort=escort, device_id=devices[i][0] if i < n_under_way else None,
                pickup={"lat": 51.5 + rng.uniform(-0.05, 0.05), "lon": -0.12 + rng.uniform(-0.08, 0.08)},
                dropoff={"lat": 51.5 + rng.uniform(-0.05, 0.05), "lon": -0.12 + rng.uniform(-0.08, 0.08)},
                route=[], settings={}, scheduled_pickup_at=pickup_at, appointment_at=pickup_at + timedelta(minutes=45),
                user=dan, now=now)
            if i < n_under_way:
                for status in UNDER_WAY_PATH[: 1 + i % 3]:
                    trips_mod.change_status(s, trip, status, dan, now=now)
                under_way.append(trip.id)
            elif trip.status == "assigned":
                assigned.append(trip.id)
        s.commit()
    engine.dispose()
    return {"token": token, "devices": devices, "under_way": under_way, "assigned": assigned}


def figures(label: str, values: list[float]) -> None:
    """Print the median and the slowest of a measurement, in milliseconds."""
    print(f"{label:<52} median {statistics.median(values) * 1000:7.0f} ms   slowest {max(values) * 1000:7.0f} ms"
          f"   ({len(values)} runs)", flush=True)


def measure(live: LiveServer, seeded: dict, repeat: int) -> None:
    """Open the board in Chromium and time its load, a status change and a round of positions."""
    from playwright.sync_api import sync_playwright

    api = {"Authorization": f"Bearer {seeded['token']}"}
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=shutil.which("chromium") or "/usr/bin/chromium", headless=True,
                                     args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_context().new_page()
        page.goto(f"{live.url}/login")
        page.fill("#username", "dan")
        page.fill("#password", PASSWORD)
        page.click("#login-submit")
        page.wait_for_load_state("networkidle")
        shown, loads = [], []
        for _ in range(repeat + 1):  # the first is a warm-up
            started = time.perf_counter()
            page.goto(f"{live.url}/dispatch/board", wait_until="domcontentloaded")
            shown.append(time.perf_counter() - started)
            page.wait_for_function("() => document.body.dataset.live === '1'", timeout=120_000)
            loads.append(time.perf_counter() - started)
        rows = page.locator("tbody tr").count()
        print(f"board rows: {rows}", flush=True)
        figures("load: navigation until the rows are in the page", shown[1:])
        figures("load: navigation until the live snapshot is applied", loads[1:])

        moves = []
        for trip_id in seeded["assigned"][:repeat]:  # cancelled: it moves to the exceptions (and starts no trip)
            started = time.perf_counter()
            requests.post(f"{live.url}/api/v1/trips/{trip_id}/status", json={"status": "cancelled", "reason": "bench"},
                          headers=api, timeout=30).raise_for_status()
            page.wait_for_function(f"() => document.querySelector('#group-exceptions #board-trip-{trip_id}')",
                                   timeout=60_000)
            moves.append(time.perf_counter() - started)
        figures("status change: API call until the row has moved", moves)

        rounds, posting = [], []
        for n in range(repeat):
            lat = 51.40 + n * 0.001
            started = time.perf_counter()
            for device_id, device_token in seeded["devices"]:
                fix = {"seq": 10 + n, "lat": lat, "lon": -0.1,
                       "ts": datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")}
                requests.post(f"{live.url}/api/v1/fixes", json=[fix],
                              headers={"Authorization": f"Bearer {device_token}"}, timeout=30)
            posting.append(time.perf_counter() - started)
            needle = f"{lat:.4f}"
            page.wait_for_function(
                "([ids, needle]) => ids.every(id => { const c = document.querySelector('#board-trip-' + id + ' .c-last');"
                " return c && c.textContent.includes(needle); })", arg=[seeded["under_way"], needle], timeout=120_000)
            rounds.append(time.perf_counter() - started)
        figures(f"positions: {len(seeded['devices'])} fixes posted one by one", posting)
        figures(f"positions: first post until all {len(seeded['under_way'])} rows show them", rounds)
        browser.close()


def main() -> None:
    """Parse the options, seed, serve and measure."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trips", type=int, default=500)
    parser.add_argument("--under-way", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        instance = Path(tmp) / "instance"
        url = args.database_url or f"sqlite:///{Path(tmp) / 'bench.db'}"
        seeded = seed(url, args.trips, args.under_way, instance)
        with LiveServer(url, instance) as live:
            measure(live, seeded, args.repeat)


if __name__ == "__main__":
    main()
