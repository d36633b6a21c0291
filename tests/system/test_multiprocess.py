"""Two real gunicorn processes on one PostgreSQL database and Redis, as deployed behind nginx."""

from __future__ import annotations

import json
import threading
import time
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import requests
from sqlmodel import Session, select

from app.db import utcnow
from dispatch.models import Alert, TripEvent
from patients.models import Patient
from tests.factories import ROUTE
from tests.system.conftest import (
    Dispatcher,
    device_client,
    payload,
    two_processes,
    wait_for,
)
from dispatch import ingest
from tracking.devices import DeviceRef, create_device
from tracking.models import TripTrackState
from tracking.simulator import Detour, Scenario, generate


def alert_rows(app, trip_id: int) -> list[tuple]:
    """Return the trip's alerts as (kind, raised_at, resolved_at), in order."""
    with Session(app.extensions["escort"].engine) as s:
        rows = s.exec(select(Alert).where(Alert.trip_id == trip_id).order_by(Alert.id)).all()
        return [(a.kind, a.raised_at, a.resolved_at) for a in rows]


def test_a_device_moving_between_processes_is_seen_live_and_alerts_exactly_as_on_one(app, world, session, tmp_path):
    # The drive leaves the route for 400 m and comes back: one deviation, raised and resolved.
    start = utcnow() - timedelta(minutes=5)
    fixes = generate(Scenario(route=ROUTE, detour=Detour(300, 700, 150)), start, seed=7)
    sent = [payload(f) for f in fixes]

    # The reference: the same drive, fix by fix, on one process (this one), on a second trip.
    ref_device, _ = create_device(session, "reference", None, now=utcnow())
    session.commit()
    ref_trip = world.make_trip(escort="emil", device=ref_device.id)
    for p in sent:
        ingest.accept_payloads(session, DeviceRef(ref_device.id, None), [p], now=utcnow())
    expected = alert_rows(app, ref_trip.id)
    assert [k for k, _, _ in expected] == ["deviation"], "the reference drive raises one deviation"
    raised_i = next(i for i, f in enumerate(fixes) if f.ts == expected[0][1])
    resolved_i = next(i for i, f in enumerate(fixes) if f.ts == expected[0][2])

    # Nobody acknowledges during the drive: the escalation steps (each tells the screens the alert
    # again) are kept out of it, so what the screens are told is the alert's own changes. So is the
    # check-in clock: the deviation pauses it and its end starts a grace period, which a slow machine
    # can outlive (the sweeps run on the wall clock; the reference on one process has no sweep).
    world.trip.settings = {**(world.trip.settings or {}), "escalate_after_s": 3600,
                           "checkin_interval_s": 4 * 3600, "checkin_grace_s": 3600}
    session.add(world.trip)
    session.commit()
    with two_processes(app, tmp_path) as (a, b):
        watch_a, watch_b = Dispatcher(a.url, world.api_tokens["dan"]), Dispatcher(b.url, world.api_tokens["ada"])
        try:
            # Hand over in the middle of the off-route evidence, and back in the middle of the rejoin:
            # any state kept in a process rather than in trip_track_state would show.
            legs = [(a, sent[:raised_i - 4]), (b, sent[raised_i - 4:resolved_i - 2]), (a, sent[resolved_i - 2:])]
            acks = []
            for server, part in legs:
                device = device_client(server.url, world.device_token)
                acks += [device.call("fix", p, namespace="/device", timeout=10) for p in part]
                device.disconnect()
            for watcher in (watch_a, watch_b):
                wait_for(lambda w=watcher: len(w.positions) >= len(sent), 15, "every position on both screens")
                wait_for(lambda w=watcher: any(x["state"] == "resolved" for x in w.alerts), 10, "the resolve")
        finally:
            watch_a.close()
            watch_b.close()

    assert acks == [{"ok": True, "seq": p["seq"]} for p in sent]
    got = alert_rows(app, world.trip.id)
    assert [(k, r, s) for k, r, s in got] == expected, "the same alerts, at the same fixes, as on one process"
    for watcher in (watch_a, watch_b):
        assert sorted(f["seq"] for f in watcher.positions) == [p["seq"] for p in sent]
        mine = [x for x in watcher.alerts if x["trip_id"] == world.trip.id]
        # Raised and resolved, each told once; the sweep that found where it happened, in words, tells
        # it once more (one process claims that, whichever), as it is at that moment, never older.
        states = [x["state"] for x in mine]
        assert [s for i, s in enumerate(states) if i == 0 or s != states[i - 1]] == ["open", "resolved"], mine
        told = [json.dumps(x, sort_keys=True) for x in mine]
        assert len(told) == len(set(told)) <= 3, mine  # no copy twice (two processes telling the same change)
    with Session(app.extensions["escort"].engine) as s:
        live_state = s.get(TripTrackState, world.trip.id).state
        ref_state = s.get(TripTrackState, ref_trip.id).state
    assert live_state == ref_state


class Hook(BaseHTTPRequestHandler):
    """Collect escalation webhooks."""

    received: ClassVar[list[dict]] = []

    def do_POST(self):
        """Record the JSON body; answer 204."""
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        Hook.received.append(json.loads(body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *_args):
        """Stay quiet."""


def test_timers_fire_once_with_two_processes_sweeping(app, world, session, tmp_path):
    hook = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    Hook.received = []
    threading.Thread(target=hook.serve_forever, daemon=True).start()
    now = utcnow()
    patient = Patient(name="Mo Dose", created_at=now, medications=[
        {"name": "Levodopa", "dose": "100 mg", "every_hours": 24,
         "last_dose_at": (now + timedelta(seconds=2) - timedelta(hours=24)).isoformat()}])
    session.add(patient)
    session.commit()
    # No fix ever comes: signal lost after 1 s, each escalation step 1 s later; a dose due at +2 s.
    trip = world.make_trip(escort="emil", device=None, settings={
        "signal_lost_after_s": 1, "escalate_after_s": 1, "medication_grace_s": 1})
    trip.patient_id = patient.id
    session.add(trip)
    session.commit()
    try:
        with two_processes(app, tmp_path, ESCORT_SWEEP_INTERVAL_S="0.2",
                           ESCORT_WEBHOOK_URL=f"http://127.0.0.1:{hook.server_port}/hook") as (a, b):
            # A process starts sweeping with its first Socket.IO connection.
            watch_a, watch_b = Dispatcher(a.url, world.api_tokens["dan"]), Dispatcher(b.url, world.api_tokens["ada"])
            try:
                wait_for(lambda: {(h["kind"], h["level"]) for h in Hook.received} >= {
                    ("signal_lost", 3), ("medication_due", 3)}, 30, "both alerts escalated to the last step")
                time.sleep(1.5)  # a few more sweeps by each process: nothing may happen twice
            finally:
                watch_a.close()
                watch_b.close()
    finally:
        hook.shutdown()
        hook.server_close()
    with Session(app.extensions["escort"].engine) as s:
        kinds = [a.kind for a in s.exec(select(Alert).where(Alert.trip_id == trip.id)).all()]
        events = s.exec(select(TripEvent).where(TripEvent.trip_id == trip.id)).all()
    assert sorted(kinds) == ["medication_due", "signal_lost"]
    assert sorted((h["kind"], h["level"]) for h in Hook.received if h["trip_id"] == trip.id) == [
        ("medication_due", 1), ("medication_due", 2), ("medication_due", 3),
        ("signal_lost", 1), ("signal_lost", 2), ("signal_lost", 3)], "each escalation step sent once"
    assert sorted(e.kind for e in events if e.kind in ("notification", "medication_reminder", "alert_raised")) == [
        "alert_raised", "alert_raised", "medication_reminder"] + ["notification"] * 6
    for watcher in (watch_a, watch_b):
        raised = [x for x in watcher.alerts if x["trip_id"] == trip.id and x["detail"].get("silent_s") is not None]
        assert raised, "each screen hears of the alert, whichever process raised it"


def test_sweeps_at_the_same_instant_on_two_connections_remind_and_raise_once(app, world, session):
    from dispatch import notify, scheduler

    now = utcnow()
    for i in range(6):
        patient = Patient(name=f"Dose {i}", created_at=now, medications=[
            {"name": "Levodopa", "dose": "100 mg", "every_hours": 24,
             "last_dose_at": (now + timedelta(seconds=2) - timedelta(hours=24)).isoformat()}])
        session.add(patient)
        session.flush()
        trip = world.make_trip(escort="emil", device=None, settings={"medication_grace_s": 1})
        trip.patient_id = patient.id
        session.add(trip)
    session.commit()
    engine = app.extensions["escort"].engine
    later = now + timedelta(seconds=10)
    barrier = threading.Barrier(4)
    results, errors = [], []

    def sweeper():
        try:
            with Session(engine, expire_on_commit=False) as s:
                barrier.wait()
                results.append(scheduler.sweep(s, now=later, channels=notify.Channels()))
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=sweeper) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors, errors
    with Session(engine) as s:
        reminders = s.exec(select(TripEvent).where(TripEvent.kind == "medication_reminder")).all()
        raised = s.exec(select(TripEvent).where(TripEvent.kind == "alert_raised")).all()
    assert sum(len(r.reminders) for r in results) == len(reminders) == 6, "one reminder per dose"
    assert len(raised) == sum(len(r.alerts) for r in results)


def test_a_zone_drawn_on_one_process_reaches_the_live_maps_on_the_other(app, world, tmp_path):
    square = [[-0.13, 51.50], [-0.12, 51.50], [-0.12, 51.51], [-0.13, 51.50]]
    with two_processes(app, tmp_path) as (a, b):
        watch_b = Dispatcher(b.url, world.api_tokens["dan"])
        places: list[dict] = []
        watch_b.client.on("places", places.append, namespace="/dispatch")
        try:
            made = requests.post(f"{a.url}/api/v1/hazard-zones", headers=world.bearer("ada"), timeout=10,
                                 json={"name": "Closed road", "polygon": {"type": "Polygon", "coordinates": [square]}})
            assert made.status_code == 201, made.text
            got = wait_for(lambda: places, 10, "the places event on the other process's dispatcher")
            assert [z["name"] for z in got[0]["zones"]] == ["Closed road"]
        finally:
            watch_b.close()
