"""The demo's promise: one deviation and one unexpected stop within about two minutes, nothing else."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import select

from app.db import utcnow
from app.demo import seed
from dispatch.models import Alert, Trip
from dispatch import ingest
from tracking.models import Device


def test_demo_scenarios_raise_one_deviation_and_one_stop_in_two_minutes(app, session):
    start = utcnow() - timedelta(hours=1)
    pairs = seed(session, now=start)
    from app.auth import hash_token
    from tracking.simulator import generate

    for index, (token, scenario) in enumerate(pairs):
        device = session.exec(select(Device).where(Device.token_hash == hash_token(token))).one()
        fixes = generate(scenario, start, seed=index + 1)
        for fix in fixes:  # one at a time, as the simulator streams them
            ingest.accept(session, device, [fix], now=fix.ts + timedelta(seconds=1))
    trips = {t.id: t for t in session.exec(select(Trip)).all()}
    raised = sorted((trips[a.trip_id].escort_user_id, a.kind, (a.raised_at - start).total_seconds())
                    for a in session.exec(select(Alert)).all())
    kinds = [(k, s) for _, k, s in raised]
    assert [k for k, _ in kinds] == ["deviation", "stop"], raised
    assert all(seconds <= 130 for _, seconds in kinds), raised


def test_demo_seed_twice_starts_a_clean_show(app, session):
    seed(session, now=utcnow())
    seed(session, now=utcnow())
    live = session.exec(select(Trip).where(Trip.status == "on_board")).all()
    assert len(live) == 3
    assert len(session.exec(select(Trip).where(Trip.status == "cancelled")).all()) == 3
