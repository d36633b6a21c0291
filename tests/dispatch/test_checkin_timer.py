"""The check-in timer rules, over real Socket.IO clients on /device (and /dispatch) with a moved sweep clock."""

from __future__ import annotations

import time
from datetime import datetime, timedelta

import pytest
import socketio as sio
from sqlmodel import Session, select

from app.auth import hash_secret
from app.db import utcnow
from dispatch import scheduler
from dispatch.models import Alert, Trip, TripEvent
from dispatch.notify import Channels
from dispatch.safety import CLOSED_BY_CHECKIN
from tests.factories import ROUTE, fix_payload
from tests.live import ThreadedServer

SAFE, DURESS = "1234", "9876"
TIMERS = {"checkin_interval_s": 600, "checkin_grace_s": 60, "signal_lost_after_s": 86400, "escalate_after_s": 30}


class Client:
    """A real Socket.IO client on one namespace, recording every message the server sends it."""

    def __init__(self, url: str, namespace: str, token: str) -> None:
        self.namespace, self.messages = namespace, []
        self.client = sio.Client(reconnection=False)
        self.client.on("*", lambda event, *args: self.messages.append((event, args[0] if args else None)),
                       namespace=namespace)
        self.client.connect(url, namespaces=[namespace], auth={"token": token}, transports=["polling"],
                            wait_timeout=10)

    def call(self, event: str, data) -> dict:
        return self.client.call(event, data, namespace=self.namespace, timeout=10)

    def received(self, event: str, at_least: int = 0, timeout_s: float = 3.0) -> list:
        """Return the payloads of ``event`` received, waiting for ``at_least`` (then a moment for strays)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and sum(1 for e, _ in self.messages if e == event) < at_least:
            time.sleep(0.02)
        time.sleep(0.3)
        return [p for e, p in self.messages if e == event]


@pytest.fixture
def server(app):
    with ThreadedServer(app) as running:
        yield running


@pytest.fixture
def tablet(server, world):
    client = Client(server.url, "/device", world.device_token)
    yield client
    client.client.disconnect()


def _trip(world, session, *, started_at: datetime, **settings) -> Trip:
    """Give the world's trip the test timers, a start time and the escort's PINs."""
    eve = world.users["escort"]
    eve.safe_pin_hash, eve.duress_pin_hash = hash_secret(SAFE), hash_secret(DURESS)
    trip = world.trip
    trip.settings, trip.started_at = {**TIMERS, **settings}, started_at
    session.add_all([eve, trip])
    session.commit()
    return trip


def _alerts(session, kind: str) -> list[Alert]:
    session.expire_all()
    return session.exec(select(Alert).where(Alert.kind == kind)).all()


def _iso(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


@pytest.mark.parametrize("pin", [SAFE, DURESS], ids=["safe PIN", "duress PIN"])
def test_a_checkin_closes_the_missed_checkin_and_stops_its_escalation(app, world, session, server, tablet, pin):
    now = utcnow()
    trip = _trip(world, session, started_at=now - timedelta(seconds=800))
    desk = Client(server.url, "/dispatch", world.api_tokens["dan"])
    ext = app.extensions["escort"]
    ext.sweep_once(now - timedelta(seconds=100))  # 700 s after the start: past due (600) and grace (60)
    [missed] = _alerts(session, "missed_checkin")
    ext.sweep_once(now - timedelta(seconds=60))  # 40 s unanswered: the dispatcher on duty is told
    assert _alerts(session, "missed_checkin")[0].escalation_level == 1

    assert tablet.call("checkin", {"pin": pin}) == {"ok": True}  # the same answer for either PIN
    [missed] = _alerts(session, "missed_checkin")
    assert missed.resolved_at is not None and missed.note == CLOSED_BY_CHECKIN
    assert missed.acknowledged_at is None, "cleared, not acknowledged: a dispatcher still sees it happened"
    closed = [a for a in desk.received("alert", at_least=3) if a["kind"] == "missed_checkin"]
    assert closed[-1]["state"] == "resolved" and closed[-1]["note"] == CLOSED_BY_CHECKIN

    for later_s in (60, 200, 400):  # well within the next interval; escalation would have gone on
        ext.sweep_once(now + timedelta(seconds=later_s))
    assert [(a.escalation_level, a.resolved_at is not None) for a in _alerts(session, "missed_checkin")] == [(1, True)]
    session.expire_all()
    steps = [e.detail["level"] for e in session.exec(select(TripEvent).where(
        TripEvent.trip_id == trip.id, TripEvent.kind == "notification")).all() if e.detail["kind"] == "missed_checkin"]
    assert steps == [1]
    timeline = app.test_client().get(f"/api/v1/trips/{trip.id}/timeline", headers=world.bearer("dan")).get_json()
    assert "Alert cleared on its own: missed checkin (closed by the escort's check-in)" in [
        e["text"] for e in timeline["timeline"]]
    assert not [m for m in tablet.messages if m[0] == "alert"], "the escort's side hears nothing of alerts"
    desk.client.disconnect()


def _drive_then_stop(tablet: Client, start: datetime) -> datetime:
    """Drive along the route for 30 s, then stand still for 70 s; return the last fix's time."""
    (lat1, lon1), (lat2, lon2) = ROUTE[1], ROUTE[2]
    seq = 0
    for step in range(4):  # about 90 m per 10 s along the planned route
        seq += 1
        f = step / 4
        ack = tablet.call("fix", fix_payload(seq, lat=lat1 + (lat2 - lat1) * f, lon=lon1 + (lon2 - lon1) * f,
                                             ts=start + timedelta(seconds=10 * step)))
        assert ack["ok"], ack
    stop_lat, stop_lon = lat1 + (lat2 - lat1) * 0.75, lon1 + (lon2 - lon1) * 0.75
    for step in range(8):
        seq += 1
        at = start + timedelta(seconds=30 + 10 * step)
        ack = tablet.call("fix", fix_payload(seq, lat=stop_lat + 1e-6 * (step % 2), lon=stop_lon, ts=at))
        assert ack["ok"], ack
    return at


def test_a_stop_asks_for_a_fresh_checkin_with_a_grace_period_instead_of_a_stale_missed_checkin(
        app, world, session, tablet):
    now = utcnow()
    start = now - timedelta(seconds=100)
    # On board for 20 minutes, never checked in: the drive along the route kept the clock going.
    _trip(world, session, started_at=start - timedelta(minutes=20), stop_after_s=60)
    ext = app.extensions["escort"]
    last = _drive_then_stop(tablet, start)
    [stop] = _alerts(session, "stop")
    assert stop.resolved_at is None
    opened = stop.raised_at

    ext.sweep_once(opened + timedelta(seconds=5))
    due = tablet.received("checkin_due", at_least=1)
    assert due == [{"trip_id": world.trip.id, "due_at": _iso(opened + timedelta(seconds=60))}]
    assert _alerts(session, "missed_checkin") == [], "not measured from the start 20 minutes ago"
    ext.sweep_once(opened + timedelta(seconds=50))
    assert _alerts(session, "missed_checkin") == []
    ext.sweep_once(opened + timedelta(seconds=61))  # the grace is over and nobody checked in
    [missed] = _alerts(session, "missed_checkin")
    assert missed.detail["due_at"] == (opened + timedelta(seconds=60)).isoformat()
    assert last >= opened


def test_a_checkin_during_a_stop_sets_the_next_due_time_from_the_checkin(app, world, session, tablet):
    now = utcnow()
    start = now - timedelta(seconds=100)
    _trip(world, session, started_at=start - timedelta(minutes=20), stop_after_s=60)
    _drive_then_stop(tablet, start)
    [stop] = _alerts(session, "stop")
    assert tablet.call("checkin", {"pin": SAFE}) == {"ok": True}
    checked_in = utcnow()
    ext = app.extensions["escort"]
    ext.sweep_once(stop.raised_at + timedelta(seconds=120))  # past the stop's grace: the check-in answered it
    assert _alerts(session, "missed_checkin") == []
    assert tablet.received("checkin_due") == []
    ack = tablet.call("status", {"trip_id": world.trip.id, "status": "arrived_dropoff"})
    due_at = datetime.fromisoformat(ack["trip"]["checkin_due_at"].replace("Z", "+00:00"))
    assert abs((due_at - (checked_in + timedelta(seconds=600))).total_seconds()) < 5


def test_checkin_due_is_sent_once_per_due_time_however_often_the_sweep_runs(app, world, session, tablet):
    start = utcnow()
    trip = _trip(world, session, started_at=start)
    ext = app.extensions["escort"]
    for second in range(480, 600, 5):  # 24 sweeps inside the reminder window (due at 600 s)
        ext.sweep_once(start + timedelta(seconds=second))
    assert tablet.received("checkin_due", at_least=2) == [{"trip_id": trip.id, "due_at": _iso(
        start + timedelta(seconds=600))}]
    # What was sent is in the database: another process's sweep does not send it again.
    with Session(ext.engine, expire_on_commit=False) as other:
        again = scheduler.sweep(other, now=start + timedelta(seconds=590), channels=Channels())
    assert again.reminders == []

    # A new due time (the escort was moved back on the clock by a check-in) is reminded once again.
    assert tablet.call("checkin", {"pin": SAFE}) == {"ok": True}
    checked_in = session.exec(select(TripEvent.at).where(TripEvent.kind == "checkin")).one()
    for second in range(500, 590, 10):
        ext.sweep_once(checked_in + timedelta(seconds=second))
    reminders = tablet.received("checkin_due", at_least=3)
    assert len(reminders) == 2 and reminders[1]["due_at"] == _iso(checked_in + timedelta(seconds=600))


def test_the_tablet_page_and_the_trip_carry_the_next_checkin_due_time(app, world, session, tablet):
    import json
    import re

    from tests.factories import login

    start = utcnow() - timedelta(seconds=30)
    trip = _trip(world, session, started_at=start)
    html = login(app.test_client(), "eve").get("/escort").get_data(as_text=True)
    page = json.loads(re.search(r'<script type="application/json" id="page-data">(.*?)</script>', html, re.S)[1])
    assert page["trip"]["checkin_due_at"] == _iso(start + timedelta(seconds=600))
    ack = tablet.call("status", {"trip_id": trip.id, "status": "arrived_dropoff"})
    assert ack["trip"]["checkin_due_at"] == _iso(start + timedelta(seconds=600))
