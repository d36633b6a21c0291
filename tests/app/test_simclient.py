"""The simulator client against a real gunicorn server: every fix once, in order, never in the future."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from sqlmodel import Session, select

from app import simclient
from app.db import utcnow
from tests.live import LiveServer
from tracking.devices import create_device
from tracking.models import Fix
from tracking.simulator import Scenario, generate

ROUTE = tuple((51.50, -0.14 + 0.002 * i) for i in range(6))


def test_two_drivers_replayed_fast_arrive_once_in_order(app, world, session, tmp_path):
    other, other_token = create_device(session, "sim-2", None, now=utcnow())
    session.commit()
    start = datetime.now(timezone.utc)
    drivers = [simclient.Driver(world.device_token, generate(Scenario(route=ROUTE), start, seed=1)[:60]),
               simclient.Driver(other_token, generate(Scenario(route=ROUTE), start, seed=2)[:60])]
    lines: list[str] = []
    url = app.extensions["escort"].engine.url.render_as_string(hide_password=False)
    with LiveServer(url, tmp_path) as server:
        began = datetime.now(timezone.utc)
        stats = simclient.run(server.url, drivers, speedup=8, progress=lines.append)
    assert (stats.sent, stats.acked, stats.rejected, stats.queued) == (120, 120, 0, 0)
    with Session(app.extensions["escort"].engine) as s:
        for device_id in (world.device.id, other.id):
            rows = s.exec(select(Fix).where(Fix.device_id == device_id).order_by(Fix.id)).all()
            assert [r.seq for r in rows] == list(range(1, 61))
            assert all(a.ts < b.ts for a, b in zip(rows, rows[1:]))
            assert max(r.ts for r in rows) <= datetime.now(timezone.utc)
            assert min(r.ts for r in rows) >= began - timedelta(seconds=60)
    assert lines and "fixes acked" in lines[0]


def test_synthetic_drivers_cover_the_duration_with_rising_seqs():
    drivers = simclient.synthetic_drivers(["a", "b", "c"], duration_s=120, rate_hz=0.5)
    assert len(drivers) == 3
    for d in drivers:
        assert [f.seq for f in d.fixes] == list(range(1, len(d.fixes) + 1))
        span = (d.fixes[-1].ts - d.fixes[0].ts).total_seconds()
        assert 110 <= span <= 120
    assert drivers[0].fixes[0].lat != drivers[1].fixes[0].lat


def test_linger_keeps_reporting_from_the_last_position_until_stopped(app, world, session, tmp_path):
    import threading

    start = datetime.now(timezone.utc)
    fixes = generate(Scenario(route=ROUTE), start, seed=3)[:5]
    stop = threading.Event()
    url = app.extensions["escort"].engine.url.render_as_string(hide_password=False)
    with LiveServer(url, tmp_path) as server:
        threading.Timer(3.0, stop.set).start()
        stats = simclient.run(server.url, [simclient.Driver(world.device_token, fixes)], speedup=5,
                              progress=None, stop_event=stop, linger_s=0.3)
    assert stats.acked > 5 and stats.rejected == 0
    with Session(app.extensions["escort"].engine) as s:
        rows = s.exec(select(Fix).where(Fix.device_id == world.device.id).order_by(Fix.seq)).all()
    parked = rows[5:]
    assert parked and all((r.lat, r.lon) == (rows[4].lat, rows[4].lon) for r in parked)
    assert [r.seq for r in rows] == list(range(1, len(rows) + 1))
