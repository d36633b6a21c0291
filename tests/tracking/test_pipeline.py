"""One pipeline for every way a fix comes in: its steps, its writer, and what a failure after the commit does."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import Session, func, select

from app import realtime
from app.db import utcnow
from dispatch import ingest
from tests.factories import fix_payload
from tracking import pipeline
from tracking.devices import DeviceRef
from tracking.models import Fix, TripTrackState
from tracking.rawsql import RawSQL


def _stored(session, device_id: int) -> int:
    session.expire_all()
    return session.exec(select(func.count()).select_from(Fix).where(Fix.device_id == device_id)).one()


def test_the_steps_run_in_the_order_the_way_of_a_fix_is_told():
    assert [step.__name__ for step in pipeline.STEPS] == [
        "validate", "check_times", "assign_trips", "refuse_off_duty", "deduplicate", "store", "signal_back", "detect"]


@pytest.mark.parametrize("path", ["http", "socket"])
def test_a_failed_publication_never_fails_a_committed_ingest(app, world, session, monkeypatch, path):
    """The fixes are committed before anything is emitted: the device is told they are stored, and they are."""

    def broken(*_args, **_kwargs):
        raise RuntimeError("the message queue is away")

    monkeypatch.setattr(realtime, "publish_ingest", broken)
    if path == "http":
        client = app.test_client()
        resp = client.post("/api/v1/fixes", json=[fix_payload(1), fix_payload(2)],
                           headers={"Authorization": f"Bearer {world.device_token}"})
        assert resp.status_code == 200 and resp.json == {"accepted": [1, 2], "rejected": []}
    else:
        ext = app.extensions["escort"]
        result = ingest.accept_grouped(ext.engine, DeviceRef(world.device.id, world.users["escort"].id),
                                       [fix_payload(1), fix_payload(2)], now=utcnow())
        assert result.accepted == [1, 2] and len(result.stored) == 2
    assert _stored(session, world.device.id) == 2


def test_a_late_fix_is_stored_but_never_judged_and_the_columns_say_when(app, world, session):
    """What is older than the last detected fix is history: stored, filed under the trip, not stepped through."""
    ext = app.extensions["escort"]
    eve = DeviceRef(world.device.id, world.users["escort"].id)
    now = utcnow()
    newest, late = now - timedelta(seconds=10), now - timedelta(seconds=40)
    with Session(ext.engine, expire_on_commit=False) as s:
        ingest.accept_payloads(s, eve, [fix_payload(2, ts=newest)], now=now)
    with Session(ext.engine, expire_on_commit=False) as s:
        later = now + timedelta(seconds=3)
        result = ingest.accept_payloads(s, eve, [fix_payload(1, ts=late, lat=51.60)], now=later)
    assert result.accepted == [1] and [f["seq"] for f in result.stored] == [1]
    assert result.stored[0]["trip_id"] == world.trip.id
    session.expire_all()
    row = session.get(TripTrackState, world.trip.id)
    assert row.last_detected_at == newest  # the late fix did not move detection back
    assert row.last_fix_received_at == later  # but it is a sign of life
    assert row.state["last_lat"] != 51.60


def test_the_writer_closes_its_cursor(session):
    with RawSQL(session) as writer:
        writer.cursor.execute("SELECT 1")
    with pytest.raises(Exception):  # noqa: B017  (each driver has its own "closed cursor" error)
        writer.cursor.execute("SELECT 1")
