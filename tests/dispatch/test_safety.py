"""Panic, check-ins with safe and duress PINs, and the scheduler's timers on a moved clock."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlmodel import Session, select

from app.auth import hash_secret
from app.db import utcnow
from app.realtime import socketio
from dispatch import alerts as alerts_mod
from dispatch import scheduler
from dispatch.models import Alert, TripEvent
from dispatch.notify import Channels
from dispatch.safety import PIN_NOT_ACCEPTED
from tests.factories import fix_payload, login
from tests.live import free_port, wait_until

NO_CHANNELS = Channels()


def _alerts(session, kind=None):
    """Return stored alerts (fresh from the database)."""
    session.expire_all()
    query = select(Alert)
    if kind:
        query = query.where(Alert.kind == kind)
    return session.exec(query).all()


def _with_pins(world, session):
    """Give the escort a safe PIN 1234 and a duress PIN 9876."""
    eve = world.users["escort"]
    eve.safe_pin_hash, eve.duress_pin_hash = hash_secret("1234"), hash_secret("9876")
    session.add(eve)
    session.commit()


def _tablet(app, name="eve"):
    """Return a logged-in escort's /device socket."""
    return socketio.test_client(app, namespace="/device", flask_test_client=login(app.test_client(), name))



def test_panic_raises_an_alert_at_the_last_position_and_reaches_dispatchers(app, world, session):
    disp = socketio.test_client(app, namespace="/dispatch", auth={"token": world.api_tokens["dan"]})
    disp.get_received("/dispatch")
    dev = socketio.test_client(app, namespace="/device", auth={"token": world.device_token})
    dev.emit("fix", fix_payload(1, lat=51.501, lon=-0.12), namespace="/device", callback=True)
    assert dev.emit("panic", {"ts": utcnow().isoformat()}, namespace="/device", callback=True) == {"ok": True}
    [alert] = _alerts(session, "panic")
    assert alert.trip_id == world.trip.id and (alert.detail["lat"], alert.detail["lon"]) == (51.501, -0.12)
    got = [m["args"][0] for m in disp.get_received("/dispatch") if m["name"] == "alert"]
    assert [a["kind"] for a in got] == ["panic"]


def test_panic_with_garbage_fields_is_still_a_panic(app, world, session):
    dev = socketio.test_client(app, namespace="/device", auth={"token": world.device_token})
    assert dev.emit("panic", {"ts": "soon", "lat": "x"}, namespace="/device", callback=True) == {"ok": True}
    assert dev.emit("panic", "help", namespace="/device", callback=True) == {"ok": True}
    assert len(_alerts(session, "panic")) == 1, "a repeat updates the open panic, it does not duplicate it"


def test_safe_and_duress_pins_answer_identically(app, world, session):
    _with_pins(world, session)
    tab = _tablet(app)
    safe = tab.emit("checkin", {"pin": "1234"}, namespace="/device", callback=True)
    duress = tab.emit("checkin", {"pin": "9876"}, namespace="/device", callback=True)
    assert safe == duress == {"ok": True}
    assert tab.get_received("/device") == [], "nothing reaches the escort's screen"
    assert wait_until(lambda: len(_alerts(session, "duress")) == 1, 5.0)
    session.expire_all()
    checkins = session.exec(select(TripEvent).where(TripEvent.kind == "checkin")).all()
    assert len(checkins) == 2 and checkins[0].detail == checkins[1].detail


def test_wrong_or_malformed_pin_is_refused(app, world, session):
    _with_pins(world, session)
    tab = _tablet(app)
    assert tab.emit("checkin", {"pin": "0000"}, namespace="/device", callback=True) == {
        "ok": False, "error": PIN_NOT_ACCEPTED}
    assert tab.emit("checkin", {"pin": 1234}, namespace="/device", callback=True)["ok"] is False
    assert tab.emit("checkin", None, namespace="/device", callback=True)["ok"] is False
    assert _alerts(session) == []


def test_signal_lost_after_silence_and_cleared_by_a_fresh_fix(app, world, session, client):
    client.post("/api/v1/fixes", json=[fix_payload(1)], headers={"Authorization": f"Bearer {world.device_token}"})
    now = utcnow()
    scheduler.sweep(session, now=now + timedelta(seconds=60), channels=NO_CHANNELS)
    assert _alerts(session, "signal_lost") == []
    scheduler.sweep(session, now=now + timedelta(seconds=200), channels=NO_CHANNELS)
    [lost] = _alerts(session, "signal_lost")
    assert lost.resolved_at is None
    client.post("/api/v1/fixes", json=[fix_payload(2)], headers={"Authorization": f"Bearer {world.device_token}"})
    [lost] = _alerts(session, "signal_lost")
    assert lost.resolved_at is not None


@pytest.mark.parametrize("path", ["grouped", "one at a time"])
def test_a_fix_detection_fails_on_still_counts_as_signal(app, world, session, monkeypatch, path):
    """The signal-lost clock is the trip's last fix received, whatever detection made of it."""
    from dispatch import ingest
    from tracking import detection
    from tracking.devices import DeviceRef

    ext = app.extensions["escort"]
    device = DeviceRef(world.device.id, world.users["escort"].id)

    def send(seq: int, now) -> None:
        if path == "grouped":
            ingest.accept_grouped(ext.engine, device, [fix_payload(seq, ts=now)], now=now)
        else:
            with Session(ext.engine) as s:
                ingest.accept_payloads(s, device, [fix_payload(seq, ts=now)], now=now)

    start = utcnow()
    send(1, start)

    def broken(*_args, **_kwargs):
        raise RuntimeError("a detector bug")

    monkeypatch.setattr(detection.detectors, "process", broken)
    send(2, start + timedelta(seconds=150))  # stored and acknowledged; detection fails on it
    scheduler.sweep(session, now=start + timedelta(seconds=200), channels=NO_CHANNELS)
    assert _alerts(session, "signal_lost") == []  # 50 s since the last fix, not 200
    scheduler.sweep(session, now=start + timedelta(seconds=340), channels=NO_CHANNELS)
    assert len(_alerts(session, "signal_lost")) == 1  # 190 s since it: silent beyond the 180 s default


def test_missed_checkin_after_interval_and_grace_and_a_checkin_resets_it(app, world, session):
    _with_pins(world, session)
    trip = world.make_trip(status="arrived_pickup", settings={"checkin_interval_s": 600, "checkin_grace_s": 60,
                                                              "signal_lost_after_s": 86400})
    world.trip.status = "completed"
    session.add(world.trip)
    session.commit()
    start = trip.started_at
    assert scheduler.sweep(session, now=start + timedelta(seconds=500), channels=NO_CHANNELS).reminders
    scheduler.sweep(session, now=start + timedelta(seconds=650), channels=NO_CHANNELS)
    assert _alerts(session, "missed_checkin") == []
    scheduler.sweep(session, now=start + timedelta(seconds=661), channels=NO_CHANNELS)
    assert len(_alerts(session, "missed_checkin")) == 1
    from dispatch.safety import record_checkin

    record_checkin(session, world.users["escort"], trip, now=start + timedelta(seconds=700))
    session.commit()
    later = scheduler.sweep(session, now=start + timedelta(seconds=1000), channels=NO_CHANNELS)
    assert later.reminders == [] and len(_alerts(session, "missed_checkin")) == 1


def test_two_schedulers_sweeping_at_once_raise_each_alert_once(app, world, session):
    engine = app.extensions["escort"].engine
    when = utcnow() + timedelta(hours=2)
    barrier = threading.Barrier(2)
    errors = []

    def run():
        try:
            with Session(engine, expire_on_commit=False) as s:
                barrier.wait()
                scheduler.sweep(s, now=when, channels=NO_CHANNELS)
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    kinds = sorted(a.kind for a in _alerts(session))
    assert kinds == ["missed_checkin", "signal_lost"]


@pytest.fixture
def smtp_server():
    """Run a real SMTP server (aiosmtpd) on a free port; yield (url, received messages)."""
    from aiosmtpd.controller import Controller


    received = []

    class Handler:
        async def handle_DATA(self, server, session, envelope):
            received.append(envelope)
            return "250 OK"

    port = free_port()
    controller = Controller(Handler(), hostname="127.0.0.1", port=port)
    controller.start()
    yield f"smtp://127.0.0.1:{port}", received
    controller.stop()


@pytest.fixture
def webhook_server():
    """Run a local HTTP server that records JSON POSTs; yield (url, bodies)."""
    import json
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    bodies = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            bodies.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/hook", bodies
    server.shutdown()
    server.server_close()


def test_unacknowledged_alert_escalates_by_webhook_and_email_step_by_step(app, world, session, smtp_server,
                                                                         webhook_server):
    smtp_url, mails = smtp_server
    hook_url, hooks = webhook_server
    world.users["dispatcher"].email = "dan@dispatch.test"
    eve = world.users["escort"]
    eve.emergency_contact_email = "eves-sister@example.test"
    session.add_all([world.users["dispatcher"], eve])
    session.commit()
    channels = Channels(webhook_url=hook_url, smtp_url=smtp_url, supervisor_email="boss@dispatch.test")
    dev = socketio.test_client(app, namespace="/device", auth={"token": world.device_token})
    dev.emit("panic", {}, namespace="/device", callback=True)
    [alert] = _alerts(session, "panic")
    t0 = alert.raised_at
    for seconds in (60, 130, 260, 390):
        scheduler.sweep(session, now=t0 + timedelta(seconds=seconds), channels=channels)
    assert [h["level"] for h in hooks if h["alert_id"] == alert.id] == [1, 2, 3]
    panic_mails = [m for m in mails if b"unanswered panic alert" in m.content]
    assert [m.rcpt_tos for m in panic_mails] == [["dan@dispatch.test"], ["boss@dispatch.test"],
                                                 ["eves-sister@example.test"]]
    session.expire_all()
    notes = [n for n in session.exec(select(TripEvent).where(TripEvent.kind == "notification")).all()
             if n.detail["alert_id"] == alert.id]
    assert [n.detail["level"] for n in notes] == [1, 2, 3]
    assert all(a["ok"] for n in notes for a in alerts_mod.opened(n.detail)["attempts"])  # sealed at rest


def test_acknowledged_alert_does_not_escalate_and_failures_are_recorded(app, world, session, client):
    dev = socketio.test_client(app, namespace="/device", auth={"token": world.device_token})
    dev.emit("panic", {}, namespace="/device", callback=True)
    [alert] = _alerts(session, "panic")
    channels = Channels(webhook_url="http://127.0.0.1:9/nothing-listens")
    scheduler.sweep(session, now=alert.raised_at + timedelta(seconds=130), channels=channels)
    session.expire_all()
    [note] = session.exec(select(TripEvent).where(TripEvent.kind == "notification")).all()
    [attempt] = alerts_mod.opened(note.detail)["attempts"]  # sealed at rest: they name e-mail addresses
    assert attempt["ok"] is False and attempt["error"]
    assert client.post(f"/api/v1/alerts/{alert.id}/ack", headers=world.bearer("dan")).status_code == 200
    scheduler.sweep(session, now=alert.raised_at + timedelta(seconds=600), channels=channels)
    assert len(session.exec(select(TripEvent).where(TripEvent.kind == "notification")).all()) == 1


def test_escort_sets_pins_on_the_tablet_and_a_duress_pin_cannot_change_them(app, world, session):
    tab = _tablet(app)
    assert tab.emit("set_pins", {"safe": "1111", "duress": "1111"}, namespace="/device", callback=True) == {
        "ok": False, "error": "the safe and duress PINs must differ"}
    assert tab.emit("set_pins", {"safe": "1111", "duress": "2222"}, namespace="/device", callback=True) == {"ok": True}
    wrong = tab.emit("set_pins", {"current": "0000", "safe": "3333", "duress": "4444"}, namespace="/device",
                     callback=True)
    assert wrong == {"ok": False, "error": PIN_NOT_ACCEPTED}
    forced = tab.emit("set_pins", {"current": "2222", "safe": "3333", "duress": "4444"}, namespace="/device",
                      callback=True)
    assert forced == {"ok": True}
    assert wait_until(lambda: len(_alerts(session, "duress")) == 1, 5.0)
    assert tab.emit("checkin", {"pin": "1111"}, namespace="/device", callback=True) == {"ok": True}, \
        "the forced change did not happen"


def test_ending_a_trip_asks_for_the_pin_and_the_duress_pin_ends_it_silently(app, world, session):
    _with_pins(world, session)
    tab = _tablet(app)
    trip_id = world.trip.id
    tab.emit("status", {"trip_id": trip_id, "status": "arrived_dropoff"}, namespace="/device", callback=True)
    refused = tab.emit("status", {"trip_id": trip_id, "status": "completed"}, namespace="/device", callback=True)
    assert refused == {"ok": False, "error": "enter your PIN to end the trip"}
    ended = tab.emit("status", {"trip_id": trip_id, "status": "completed", "pin": "9876"}, namespace="/device",
                     callback=True)
    assert ended["ok"] is True and ended["trip"]["status"] == "completed"
    assert wait_until(lambda: len(_alerts(session, "duress")) == 1, 5.0)
