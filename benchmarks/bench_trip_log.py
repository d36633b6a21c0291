"""Benchmark: opening the trip list and one trip's log with 50,000 trips and a 3,600-fix trip.

Usage: python benchmarks/bench_trip_log.py [--trips 50000] [--fixes 3600] [--repeat 7]
                                           [--database-url postgresql+psycopg://postgres@127.0.0.1/escort_me]
Seeds the database by bulk insert (with progress), serves it with the real app on gunicorn
(gevent, one worker, as deployed), logs in as the coordinator (cora, whose caseload holds a
tenth of the patients) and as a dispatcher (dan, who sees every trip), and times each request
over HTTP: the list's first page, filtered pages, the next page by cursor, and the big trip's
log page, replay data, timeline and track exports. Prints the median and the slowest of
``--repeat`` runs after one warm-up. Without --database-url, a fresh SQLite file is used;
a PostgreSQL database given is emptied first.
"""

from __future__ import annotations

import argparse
import math
import random
import re
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import requests  # noqa: E402
from sqlalchemy import insert, text  # noqa: E402
from sqlmodel import Session  # noqa: E402

from app.db import make_engine, upgrade  # noqa: E402
from tests.live import LiveServer  # noqa: E402

PASSWORD = "bench-password-123"
STATUS_PATH = ("en_route_pickup", "arrived_pickup", "on_board", "arrived_dropoff", "completed")
ALERT_KINDS = ("deviation", "stop", "late", "signal_lost", "missed_checkin")


def progress(label: str, done: int, total: int, started: float) -> None:
    """Print one progress line."""
    print(f"  {label}: {done:,}/{total:,} ({time.perf_counter() - started:.1f} s)", flush=True)


def bulk(session: Session, table, rows: list[dict], label: str, chunk: int = 5000) -> None:
    """Insert rows in chunks with core executemany, printing progress."""
    started = time.perf_counter()
    for i in range(0, len(rows), chunk):
        session.execute(insert(table), rows[i:i + chunk])
        if (i // chunk) % 10 == 9 or i + chunk >= len(rows):
            progress(label, min(i + chunk, len(rows)), len(rows), started)
    session.commit()


def reset_postgres(engine) -> None:
    """Empty a PostgreSQL database (only the one named on the command line)."""
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))


def seed(url: str, n_trips: int, n_fixes: int, instance_path: Path) -> int:
    """Seed users, patients, n_trips trips with events and alerts, and one n_fixes trip; return its id."""
    from app.auth import create_user
    from dispatch.models import Alert, Trip, TripEvent
    from app import crypto
    from patients.models import Patient
    from tracking.devices import create_device
    from tracking.models import FixRow as Fix

    # The sheet's sealed columns need the keyring the server will use (its instance folder's).
    crypto.install(crypto.keyring_for(None, instance_path))
    rng = random.Random(6)
    engine = make_engine(url)
    reset_postgres(engine)
    upgrade(engine)
    now = datetime.now(timezone.utc).replace(microsecond=0)
    with Session(engine, expire_on_commit=False) as s:
        dan = create_user(s, "dan", "dispatcher", PASSWORD, now=now)
        cora = create_user(s, "cora", "coordinator", PASSWORD, now=now)
        escorts = [create_user(s, f"escort{i}", "escort", None, now=now) for i in range(40)]
        device, _token = create_device(s, "bench-tablet", escorts[0], now=now)
        s.flush()
        patients = [Patient(name=f"Patient {i}", coordinator_user_id=cora.id if i % 10 == 0 else None, created_at=now)
                    for i in range(2000)]
        s.add_all(patients)
        s.commit()
        patient_ids = [p.id for p in patients]
        dan_id, escort_ids = dan.id, [e.id for e in escorts]
        device_id, cora_patient = device.id, patients[0].id

        print(f"seeding {n_trips:,} trips …", flush=True)
        route = [[51.50 + i * 0.0008, -0.12 + i * 0.0006] for i in range(40)]
        trips, start = [], now - timedelta(days=365)
        for i in range(n_trips):
            sched = start + timedelta(seconds=int(365 * 86400 * i / n_trips))
            status = "completed" if sched < now - timedelta(hours=3) else rng.choice(("assigned", "scheduled"))
            if status == "completed" and rng.random() < 0.04:
                status = rng.choice(("no_show", "cancelled"))
            trips.append({
                "patient_id": rng.choice(patient_ids), "escort_user_id": rng.choice(escort_ids), "device_id": None,
                "status": status, "pickup_lat": 51.5, "pickup_lon": -0.12, "pickup_radius_m": 75.0,
                "dropoff_lat": 51.531, "dropoff_lon": -0.0966, "dropoff_radius_m": 75.0, "route": route,
                "allowed_stops": [], "settings": {}, "scheduled_pickup_at": sched,
                "appointment_at": sched + timedelta(minutes=45), "started_at": sched - timedelta(minutes=15),
                "ended_at": sched + timedelta(minutes=40) if status in ("completed", "no_show", "cancelled") else None,
                "created_at": sched - timedelta(days=2), "updated_at": sched + timedelta(minutes=40),
            })
        bulk(s, Trip.__table__, trips, "trips")
        ids = [r[0] for r in s.execute(text("SELECT id FROM trip ORDER BY id")).all()]

        events, alerts = [], []
        for trip_id, t in zip(ids, trips):
            sched = t["scheduled_pickup_at"]
            events.append({"trip_id": trip_id, "at": t["created_at"], "kind": "created", "user_id": dan_id,
                           "detail": {"by": "dan", "status": "assigned"}})
            if t["status"] != "completed":
                continue
            late = rng.gauss(120, 300)
            times = [sched - timedelta(minutes=15), sched + timedelta(seconds=late),
                     sched + timedelta(seconds=late + 180), sched + timedelta(seconds=late + 1800 + rng.gauss(0, 600)),
                     sched + timedelta(minutes=40)]
            previous = "assigned"
            for status, at in zip(STATUS_PATH, times):
                events.append({"trip_id": trip_id, "at": at, "kind": "status", "user_id": t["escort_user_id"],
                               "detail": {"from": previous, "to": status, "by": "escort"}})
                previous = status
            if rng.random() < 0.12:
                raised = sched + timedelta(minutes=rng.uniform(5, 30))
                alerts.append({"trip_id": trip_id, "device_id": None, "kind": rng.choice(ALERT_KINDS), "open_key": None,
                               "raised_at": raised, "updated_at": raised,
                               "acknowledged_at": raised + timedelta(seconds=rng.expovariate(1 / 45)),
                               "acknowledged_by_id": dan_id, "resolved_at": raised + timedelta(minutes=5),
                               "resolved_by_id": dan_id, "category": "precautionary", "note": None,
                               "escalation_level": 0, "escalated_at": None, "detail": {}})
        bulk(s, TripEvent.__table__, events, "trip events")
        bulk(s, Alert.__table__, alerts, "alerts")

        print(f"seeding one trip with {n_fixes:,} fixes …", flush=True)
        t0 = (now - timedelta(days=1)).replace(hour=9, minute=0, second=0)
        big = dict(trips[-1], patient_id=cora_patient, escort_user_id=escort_ids[0], device_id=device_id,
                   status="completed", scheduled_pickup_at=t0 - timedelta(minutes=3),
                   appointment_at=t0 + timedelta(seconds=n_fixes), started_at=t0 - timedelta(minutes=10),
                   ended_at=t0 + timedelta(seconds=n_fixes + 60), created_at=t0 - timedelta(days=1),
                   updated_at=t0 + timedelta(seconds=n_fixes + 60),
                   route=[[51.50 + i * 0.002, -0.12 + 0.004 * math.sin(i / 6)] for i in range(120)])
        big_id = s.execute(insert(Trip.__table__).returning(Trip.__table__.c.id), [big]).scalar_one()
        fixes, lat, lon = [], 51.50, -0.12
        for k in range(n_fixes):
            along = k / max(1, n_fixes - 1) * 119
            lat = 51.50 + along * 0.002
            lon = -0.12 + 0.004 * math.sin(along / 6) + (0.003 if 1200 <= k < 1380 else 0.0)  # one detour
            if 2400 <= k < 2700:  # a five-minute stop
                lat, lon = fixes[-1]["lat"], fixes[-1]["lon"]
            ts = t0 + timedelta(seconds=k)
            fixes.append({"device_id": device_id, "seq": k + 1, "trip_id": big_id, "ts": ts, "received_at": ts,
                          "lat": lat + rng.gauss(0, 2e-5), "lon": lon + rng.gauss(0, 2e-5), "accuracy_m": 6.0,
                          "speed_mps": 7.0, "heading_deg": None, "altitude_m": 20.0, "battery_pct": 80.0})
        bulk(s, Fix.__table__, fixes, "fixes")
        big_events = [{"trip_id": big_id, "at": t0 - timedelta(days=1), "kind": "created", "user_id": dan_id,
                       "detail": {"by": "dan", "status": "assigned"}}]
        previous = "assigned"
        for status, at in zip(STATUS_PATH, (t0 - timedelta(minutes=10), t0, t0 + timedelta(seconds=120),
                                            t0 + timedelta(seconds=n_fixes - 1), t0 + timedelta(seconds=n_fixes + 60))):
            big_events.append({"trip_id": big_id, "at": at, "kind": "status", "user_id": escort_ids[0],
                               "detail": {"from": previous, "to": status, "by": "escort0"}})
            previous = status
        big_events += [{"trip_id": big_id, "at": t0 + timedelta(seconds=300 * k), "kind": "checkin",
                        "user_id": escort_ids[0], "detail": {"by": "escort0"}} for k in range(1, n_fixes // 300)]
        bulk(s, TripEvent.__table__, big_events, "big trip events")
    if engine.dialect.name == "postgresql":
        # What autovacuum does soon after a bulk load; without statistics the planner guesses badly.
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("ANALYZE"))
    engine.dispose()
    return big_id


def login(base: str, username: str) -> requests.Session:
    """Log a requests session in through the login form."""
    http = requests.Session()
    page = http.get(f"{base}/login", timeout=30).text
    token = re.search(r'name="csrf-token" content="([^"]+)"', page).group(1)
    resp = http.post(f"{base}/login", data={"username": username, "password": PASSWORD, "csrf_token": token},
                     allow_redirects=False, timeout=30)
    if resp.status_code != 302:
        raise SystemExit(f"login as {username} failed: {resp.status_code}")
    return http


def timed(http: requests.Session, url: str, repeat: int) -> tuple[float, float, int, int]:
    """Return (median ms, slowest ms, status, bytes) of GET url after one warm-up."""
    http.get(url, timeout=120)
    times, resp = [], None
    for _ in range(repeat):
        began = time.perf_counter()
        resp = http.get(url, timeout=120)
        times.append((time.perf_counter() - began) * 1000)
        if resp.status_code != 200:
            raise SystemExit(f"GET {url}: {resp.status_code} {resp.text[:200]}")
    return statistics.median(times), max(times), resp.status_code, len(resp.content)


def main() -> None:
    """Seed, serve, and time the trip list and the big trip's log."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trips", type=int, default=50_000)
    parser.add_argument("--fixes", type=int, default=3600)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="escort-bench-triplog-"))
    url = args.database_url or f"sqlite:///{tmp / 'bench.db'}"
    began = time.perf_counter()
    big_id = seed(url, args.trips, args.fixes, tmp)
    print(f"seeded in {time.perf_counter() - began:.1f} s; serving {url.split('@')[-1]}", flush=True)
    with LiveServer(url, tmp) as server:
        base = server.url
        users = {"cora": login(base, "cora"), "dan": login(base, "dan")}
        first = users["dan"].get(f"{base}/api/v1/trips", timeout=60).json()
        cora_first = users["cora"].get(f"{base}/api/v1/trips", timeout=60).json()
        day = (datetime.now(timezone.utc) - timedelta(days=100)).date().isoformat()
        cases = [
            ("dan", "trip list page, first page (+ 30-day figures)", "/trips"),
            ("dan", "API list, first page", "/api/v1/trips"),
            ("dan", "API list, next page by cursor", f"/api/v1/trips?after={first['next']}"),
            ("dan", "API list, filtered: escort + status + had alerts", "/api/v1/trips?escort=escort7&status=completed&had_alerts=1"),
            ("dan", "API list, filtered: one day", f"/api/v1/trips?from={day}&to={day}"),
            ("dan", "trip list page, filtered: escort + had alerts", "/trips?escort=escort7&had_alerts=1"),
            ("cora", "trip list page, caseload, first page (+ figures)", "/trips"),
            ("cora", "API list, caseload, next page", f"/api/v1/trips?after={cora_first['next']}"),
            ("cora", "API list, caseload, filtered: had alerts", "/api/v1/trips?had_alerts=1"),
            ("cora", "period figures, 90 days", f"/api/v1/trips/figures?from="
             f"{(datetime.now(timezone.utc) - timedelta(days=89)).date().isoformat()}&to="
             f"{datetime.now(timezone.utc).date().isoformat()}"),
            ("cora", f"trip log page (trip {big_id})", f"/trips/{big_id}"),
            ("cora", "trip log replay data (track, marks, timeline, figures)", f"/api/v1/trips/{big_id}/replay"),
            ("cora", "trip timeline", f"/api/v1/trips/{big_id}/timeline"),
            ("cora", "track GPX", f"/api/v1/trips/{big_id}/track.gpx"),
            ("cora", "track GeoJSON", f"/api/v1/trips/{big_id}/track.geojson"),
            ("cora", "track CSV", f"/api/v1/trips/{big_id}/track.csv"),
        ]
        print(f"\n{'who':5} {'request':58} {'median ms':>10} {'max ms':>8} {'bytes':>10}")
        log_total = 0.0
        for who, label, path in cases:
            median, slowest, _status, size = timed(users[who], base + path, args.repeat)
            if label.startswith(("trip log page", "trip log replay", "trip timeline")):
                log_total += median
            print(f"{who:5} {label:58} {median:10.1f} {slowest:8.1f} {size:10,}", flush=True)
        print(f"\nopening the {args.fixes:,}-fix trip's log (page + replay + timeline): {log_total:.0f} ms (medians)")
        print(f"database: {url.split('://')[0]}, {args.trips:,} trips")


if __name__ == "__main__":
    main()
