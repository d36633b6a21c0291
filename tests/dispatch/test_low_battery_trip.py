"""``low_battery`` belongs to a trip under way: an idle tablet between trips raises nothing, and a trip's end clears it.

Real Socket.IO clients on /device (the tablet) and /dispatch (a dispatcher), as the tablet and the live map use them.
"""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from sqlmodel import select

from app.db import utcnow
from app.realtime import socketio
from dispatch.models import Alert, TripEvent
from tests.factories import ROUTE, fix_payload, login


def _dispatcher(app):
    disp = socketio.test_client(app, namespace="/dispatch", flask_test_client=login(app.test_client(), "dan"))
    disp.get_received("/dispatch")
    return disp


def _send_low(app, world, *, first_seq: int = 1, pct: float = 9, n: int = 3) -> None:
    """The tablet sends ``n`` fixes at the pickup, battery ``pct`` and off the charger; each is acknowledged."""
    dev = socketio.test_client(app, namespace="/device", auth={"token": world.device_token})
    start = utcnow() - timedelta(seconds=30)
    for i in range(n):
        ack = dev.emit("fix", fix_payload(first_seq + i, lat=ROUTE[0][0], lon=ROUTE[0][1],
                                          ts=start + timedelta(seconds=5 * i), accuracy_m=5,
                                          battery_pct=pct, charging=False),
                       namespace="/device", callback=True)
        assert ack.get("ok") is True, ack
    dev.disconnect(namespace="/device")


def _battery_alerts_told(disp, timeout_s: float) -> list[dict]:
    got: list[dict] = []
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        got += [m["args"][0] for m in disp.get_received("/dispatch")
                if m["name"] == "alert" and m["args"][0]["kind"] == "low_battery"]
        if got and got[-1].get("state") == "resolved":
            break
        time.sleep(0.05)
    return got


def _battery_rows(session) -> list[Alert]:
    session.expire_all()
    return session.exec(select(Alert).where(Alert.kind == "low_battery")).all()


def _end(session, world, status: str = "completed") -> None:
    world.trip.status = status
    world.trip.ended_at = utcnow()
    session.add(world.trip)
    session.commit()


def test_an_idle_tablet_between_trips_raises_no_low_battery(app, world, session):
    _end(session, world)
    world.users["escort"].on_duty = True  # on duty with no trip: the position is shared, the battery still no alert
    session.add(world.users["escort"])
    session.commit()
    disp = _dispatcher(app)
    _send_low(app, world)
    assert _battery_alerts_told(disp, timeout_s=1.0) == []
    assert _battery_rows(session) == []


def test_an_assigned_trip_not_yet_started_raises_no_low_battery(app, world, session):
    _end(session, world)
    world.make_trip(status="assigned")
    world.users["escort"].on_duty = True
    session.add(world.users["escort"])
    session.commit()
    disp = _dispatcher(app)
    _send_low(app, world)
    assert _battery_alerts_told(disp, timeout_s=1.0) == []
    assert _battery_rows(session) == []


@pytest.mark.parametrize("status", ["en_route_pickup", "arrived_pickup", "on_board", "arrived_dropoff"])
def test_every_started_status_raises_it_once(app, world, session, status):
    _end(session, world)
    trip = world.make_trip(status=status)
    disp = _dispatcher(app)
    _send_low(app, world)
    told = _battery_alerts_told(disp, timeout_s=3.0)
    assert len(told) == 1 and told[0]["trip_id"] == trip.id
    [alert] = _battery_rows(session)
    assert alert.trip_id == trip.id and alert.resolved_at is None


def test_the_trips_end_clears_an_open_low_battery_and_the_next_idle_hours_raise_nothing(app, client, world, session):
    disp = _dispatcher(app)
    _send_low(app, world)
    assert len(_battery_alerts_told(disp, timeout_s=3.0)) == 1
    # The escort ends the trip from the tablet (no PINs set: none asked).
    resp = client.post(f"/api/v1/trips/{world.trip.id}/status", headers=world.bearer("eve"),
                       json={"status": "arrived_dropoff"})
    assert resp.status_code == 200, resp.json
    [alert] = _battery_rows(session)
    assert alert.resolved_at is None, "still under way at the drop-off: the battery still matters"
    resp = client.post(f"/api/v1/trips/{world.trip.id}/status", headers=world.bearer("eve"),
                       json={"status": "completed"})
    assert resp.status_code == 200, resp.json

    told = _battery_alerts_told(disp, timeout_s=3.0)
    assert [a["state"] for a in told] == ["resolved"]
    [alert] = _battery_rows(session)
    assert alert.resolved_at is not None and alert.resolved_by_id is None and alert.note == "trip ended"
    cleared = session.exec(select(TripEvent).where(TripEvent.trip_id == world.trip.id,
                                                   TripEvent.kind == "alert_cleared")).all()
    assert [e.detail["note"] for e in cleared if e.detail["kind"] == "low_battery"] == ["trip ended"]
    listed = client.get(f"/api/v1/alerts?trip_id={world.trip.id}&open=1", headers=world.bearer("dan")).json
    assert "low_battery" not in [a["kind"] for a in listed]

    # The same tablet, still low, on a desk on duty between trips: no new alert.
    world.users["escort"].on_duty = True
    session.add(world.users["escort"])
    session.commit()
    _send_low(app, world, first_seq=10)
    assert _battery_alerts_told(disp, timeout_s=1.0) == []
    assert len(_battery_rows(session)) == 1


def test_a_cancelled_trip_clears_it_too_and_a_trip_without_one_ends_quietly(app, client, world, session):
    _end(session, world)
    trip = world.make_trip(status="en_route_pickup")
    disp = _dispatcher(app)
    _send_low(app, world)
    assert len(_battery_alerts_told(disp, timeout_s=3.0)) == 1
    resp = client.post(f"/api/v1/trips/{trip.id}/status", headers=world.bearer("dan"),
                       json={"status": "cancelled", "reason": "patient unwell"})
    assert resp.status_code == 200, resp.json
    assert [a["state"] for a in _battery_alerts_told(disp, timeout_s=3.0)] == ["resolved"]
    [alert] = _battery_rows(session)
    assert alert.note == "trip ended"

    quiet = world.make_trip(status="arrived_dropoff")
    resp = client.post(f"/api/v1/trips/{quiet.id}/status", headers=world.bearer("eve"), json={"status": "completed"})
    assert resp.status_code == 200
    assert _battery_alerts_told(disp, timeout_s=0.5) == []
