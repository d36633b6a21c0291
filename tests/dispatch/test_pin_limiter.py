"""PIN guessing: wrong PINs in a row make every further attempt wait, raise ``pin_attempts`` for
dispatch (never for the escort's side), and are audited; every PIN check goes through the limiter."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import socketio as sio
from sqlmodel import Session, select

from app.auth import hash_secret
from app.db import utcnow
from app.models import AuditEvent, User
from app.realtime import socketio
from dispatch import safety, service
from dispatch.models import Alert, TripEvent
from dispatch.safety import PIN_NOT_ACCEPTED
from tests.factories import login
from tests.live import ThreadedServer

SAFE, DURESS = "1234", "9876"
REFUSED = {"ok": False, "error": PIN_NOT_ACCEPTED}


def _with_pins(world, session) -> User:
    """Give the escort eve a safe PIN 1234 and a duress PIN 9876."""
    eve = world.users["escort"]
    eve.safe_pin_hash, eve.duress_pin_hash = hash_secret(SAFE), hash_secret(DURESS)
    session.add(eve)
    session.commit()
    return eve


def _facts(session, eve) -> tuple:
    """Return (pin_attempts alerts, audited wrong PINs, check-ins, eve's row), fresh from the database."""
    session.expire_all()
    return (session.exec(select(Alert).where(Alert.kind == "pin_attempts")).all(),
            session.exec(select(AuditEvent).where(AuditEvent.action == "pin_wrong").order_by(AuditEvent.id)).all(),
            session.exec(select(TripEvent).where(TripEvent.kind == "checkin")).all(),
            session.get(User, eve.id))


def test_guessing_over_a_real_socket_is_slowed_alerted_once_and_audited(app, world, session):
    eve = _with_pins(world, session)
    dispatched: list[dict] = []
    with ThreadedServer(app) as server:
        desk = sio.Client(reconnection=False)
        desk.on("alert", dispatched.append, namespace="/dispatch")
        desk.connect(server.url, namespaces=["/dispatch"], auth={"token": world.api_tokens["dan"]},
                     transports=["polling"], wait_timeout=10)
        tablet = sio.Client(reconnection=False)
        on_tablet: list = []
        tablet.on("*", lambda event, *args: on_tablet.append(event), namespace="/device")
        tablet.connect(server.url, namespaces=["/device"], auth={"token": world.device_token},
                       transports=["polling"], wait_timeout=10)

        def checkin(pin: str) -> dict:
            return tablet.call("checkin", {"pin": pin}, namespace="/device", timeout=10)

        try:
            assert [checkin(pin) for pin in ("0000", "0001", "0002")] == [REFUSED] * 3
            # Now every attempt waits: refused unchecked, in the words of a wrong PIN, the right PINs too.
            assert [checkin(f"{n:04d}") for n in range(3, 30)] == [REFUSED] * 27
            assert checkin(SAFE) == REFUSED and checkin(DURESS) == REFUSED
            alerts, wrong, checkins, row = _facts(session, eve)
            assert len(alerts) == 1 and alerts[0].trip_id == world.trip.id
            assert alerts[0].detail == {"escort": "eve", "wrong_in_a_row": 3, "during": "checkin"}
            assert [w.detail["wrong_in_a_row"] for w in wrong] == [1, 2, 3], "only the checked PINs are audited"
            assert checkins == [] and row.pin_failures == 3
            wait_s = (row.pin_locked_until - utcnow()).total_seconds()
            assert 0 < wait_s <= safety.PIN_WAIT_BASE_S

            time.sleep(wait_s + 0.2)
            assert checkin(SAFE) == {"ok": True}, "after the wait the right PIN works"
            alerts, wrong, checkins, row = _facts(session, eve)
            assert len(checkins) == 1 and (row.pin_failures, row.pin_locked_until) == (0, None)
            assert len(alerts) == 1 and len(wrong) == 3
            time.sleep(0.3)
            assert [a["kind"] for a in dispatched] == ["pin_attempts"]
            assert on_tablet == [], "the tablet hears nothing of the alert"
        finally:
            tablet.disconnect()
            desk.disconnect()

    # The escort's own log knows nothing of it; dispatch's does.
    eve_web = login(app.test_client(), "eve")
    assert eve_web.get("/api/v1/trips?had_alerts=1").get_json()["trips"] == []
    assert eve_web.get("/api/v1/trips").get_json()["trips"][0]["alert_count"] == 0
    texts = [e["text"] for e in eve_web.get(f"/api/v1/trips/{world.trip.id}/timeline").get_json()["timeline"]]
    assert not any("pin" in t.lower() for t in texts) and "Check-in by eve" in texts
    staff = [e["text"] for e in app.test_client().get(f"/api/v1/trips/{world.trip.id}/timeline",
                                                      headers=world.bearer("dan")).get_json()["timeline"]]
    assert "Alert raised: pin attempts (3 wrong PINs in a row)" in staff


def test_each_further_wrong_pin_doubles_the_wait_up_to_a_cap(app, world, session):
    eve = _with_pins(world, session)
    t = utcnow()
    waits = []
    for n in range(1, 12):
        assert service.checkin(session, eve.id, "0000", now=t) == REFUSED
        row = _facts(session, eve)[3]
        assert row.pin_failures == n
        waits.append(round((row.pin_locked_until - t).total_seconds()) if row.pin_locked_until else 0)
        if row.pin_locked_until:
            # A moment before the wait is over even the right PIN is refused, unchecked and unaudited.
            audited = len(_facts(session, eve)[1])
            assert service.checkin(session, eve.id, SAFE, now=row.pin_locked_until - timedelta(seconds=0.5)) == REFUSED
            assert len(_facts(session, eve)[1]) == audited and _facts(session, eve)[3].pin_failures == n
            t = row.pin_locked_until
    assert waits == [0, 0, 5, 10, 20, 40, 80, 160, 300, 300, 300]
    assert len(_facts(session, eve)[0]) == 1, "one pin_attempts alert, kept up to date"
    assert _facts(session, eve)[0][0].detail["wrong_in_a_row"] == 11
    assert service.checkin(session, eve.id, DURESS, now=t) == {"ok": True}, "the duress PIN resets it as the safe one"
    assert _facts(session, eve)[3].pin_failures == 0
    _wait_for_duress(session)


def _wait_for_duress(session) -> None:
    """Wait for the duress alert's background task (its connection must be back before the engine goes)."""
    deadline = time.monotonic() + 5
    while not session.exec(select(Alert).where(Alert.kind == "duress")).all() and time.monotonic() < deadline:
        session.expire_all()
        time.sleep(0.02)
    time.sleep(0.3)


def test_parallel_guesses_are_each_counted_before_any_is_checked(app, world, session):
    eve = _with_pins(world, session)
    engine = app.extensions["escort"].engine
    now = utcnow()
    barrier = threading.Barrier(8)
    answers: list[dict] = []

    def guess(n: int) -> None:
        with Session(engine, expire_on_commit=False) as s:
            barrier.wait()
            answers.append(service.checkin(s, eve.id, f"{n:04d}", now=now))

    threads = [threading.Thread(target=guess, args=(n,)) for n in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(30)
    assert answers == [REFUSED] * 8
    alerts, wrong, _, row = _facts(session, eve)
    assert len(wrong) == safety.PIN_FREE_WRONG, "no more PINs checked than the free ones, however parallel"
    assert row.pin_failures == safety.PIN_FREE_WRONG and len(alerts) == 1


def test_ending_a_trip_and_changing_pins_go_through_the_same_limiter(app, world, session):
    eve = _with_pins(world, session)
    tab = socketio.test_client(app, namespace="/device", auth={"token": world.device_token})
    trip_id = world.trip.id
    assert tab.emit("status", {"trip_id": trip_id, "status": "arrived_dropoff"}, namespace="/device",
                    callback=True)["ok"] is True
    ended = tab.emit("status", {"trip_id": trip_id, "status": "completed", "pin": "0000"}, namespace="/device",
                     callback=True)
    assert ended == {"ok": False, "error": "enter your PIN to end the trip"}
    changed = tab.emit("set_pins", {"current": "0001", "safe": "1111", "duress": "2222"}, namespace="/device",
                       callback=True)
    assert changed == REFUSED
    resp = app.test_client().post(f"/api/v1/trips/{trip_id}/status", json={"status": "completed", "pin": "0002"},
                                  headers=world.bearer("eve"))
    assert resp.status_code == 409 and resp.get_json() == {"error": "enter your PIN to end the trip"}
    alerts, wrong, _, row = _facts(session, eve)
    assert [w.detail["during"] for w in wrong] == ["end_trip", "change_pins", "end_trip"]
    assert len(alerts) == 1 and row.pin_failures == 3
    # Waiting now: the right PIN neither ends the trip nor changes the PINs nor checks in.
    assert tab.emit("status", {"trip_id": trip_id, "status": "completed", "pin": SAFE}, namespace="/device",
                    callback=True) == {"ok": False, "error": "enter your PIN to end the trip"}
    assert tab.emit("set_pins", {"current": SAFE, "safe": "1111", "duress": "2222"}, namespace="/device",
                    callback=True) == REFUSED
    assert tab.emit("checkin", {"pin": SAFE}, namespace="/device", callback=True) == REFUSED
    assert len(_facts(session, eve)[1]) == 3
    assert {m["name"] for m in tab.get_received("/device")} <= {"trip"}, "the tablet hears nothing of the alert"
