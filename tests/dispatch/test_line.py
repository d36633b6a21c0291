"""The line between an escort and dispatch: messages both ways (REST and real Socket.IO clients over
TCP), read receipts, doses given or skipped closing ``medication_due``, and going on and off duty."""

from __future__ import annotations

import time
from datetime import timedelta

import socketio as sio
from sqlmodel import select

from app.db import utcnow
from dispatch import alerts, scheduler
from dispatch.models import Alert, TripEvent, TripMessage
from dispatch.notify import Channels
from tests.factories import fix_payload
from tests.live import ThreadedServer, wait_until
from tracking.models import Fix


class Client:
    """A real Socket.IO client on one namespace that records every event it is sent."""

    def __init__(self, url: str, namespace: str, auth: dict) -> None:
        self.namespace, self.events = namespace, []
        self.client = sio.Client(reconnection=False)
        self.client.on("*", lambda event, *args: self.events.append((event, args[0] if args else None)),
                       namespace=namespace)
        self.client.connect(url, namespaces=[namespace], auth=auth, transports=["polling"], wait_timeout=10)

    def call(self, event: str, data) -> dict:
        return self.client.call(event, data, namespace=self.namespace, timeout=10)

    def got(self, event: str, predicate=lambda payload: True, timeout_s: float = 10.0) -> dict:
        """Wait for an event whose payload satisfies ``predicate``; return it."""
        found = []
        assert wait_until(lambda: found.extend(p for e, p in self.events if e == event and predicate(p)) or found,
                          timeout_s), f"no {event} among {[e for e, _ in self.events]}"
        return found[0]

    def close(self) -> None:
        self.client.disconnect()


# --- REST ---------------------------------------------------------------------------------------


def test_messages_go_both_ways_over_rest_and_are_in_the_timeline(client, world):
    url = f"/api/v1/trips/{world.trip.id}/messages"
    sent = client.post(url, json={"text": "  Running 10 minutes late "}, headers=world.bearer("eve"))
    assert sent.status_code == 201, sent.json
    assert sent.json["from"] == "escort" and sent.json["text"] == "Running 10 minutes late"
    assert sent.json["read_at"] is None and sent.json["trip_id"] == world.trip.id and sent.json["by"] == "eve"
    reply = client.post(url, json={"text": "Thanks, the clinic knows"}, headers=world.bearer("dan"))
    assert reply.status_code == 201 and reply.json["from"] == "dispatch"

    for reader in ("eve", "dan", "ada", "cora"):
        listed = client.get(url, headers=world.bearer(reader)).json
        assert [(m["from"], m["text"]) for m in listed] == [("escort", "Running 10 minutes late"),
                                                            ("dispatch", "Thanks, the clinic knows")], reader
    timeline = client.get(f"/api/v1/trips/{world.trip.id}/timeline", headers=world.bearer("cora")).json["timeline"]
    texts = [e["text"] for e in timeline if e["kind"] == "message"]
    assert texts == ["Message from the escort by eve: Running 10 minutes late",
                     "Message from dispatch by dan: Thanks, the clinic knows"]


def test_reading_marks_only_the_other_sides_messages(client, world):
    url = f"/api/v1/trips/{world.trip.id}/messages"
    mine = client.post(url, json={"text": "Patient not ready"}, headers=world.bearer("eve")).json
    theirs = client.post(url, json={"text": "Understood"}, headers=world.bearer("dan")).json
    # The escort displays everything: only dispatch's message becomes read.
    read = client.post(f"{url}/read", json={"up_to": theirs["id"]}, headers=world.bearer("eve"))
    assert read.status_code == 200 and [m["id"] for m in read.json] == [theirs["id"]]
    assert read.json[0]["read_at"] is not None
    listed = {m["id"]: m for m in client.get(url, headers=world.bearer("dan")).json}
    assert listed[mine["id"]]["read_at"] is None and listed[theirs["id"]]["read_at"] is not None
    # Reading again changes nothing; dispatch reading marks the escort's.
    assert client.post(f"{url}/read", json={"up_to": theirs["id"]}, headers=world.bearer("eve")).json == []
    assert [m["id"] for m in client.post(f"{url}/read", json={"up_to": theirs["id"]},
                                         headers=world.bearer("dan")).json] == [mine["id"]]


def test_bad_messages_get_clear_refusals(client, world, session):
    url = f"/api/v1/trips/{world.trip.id}/messages"
    cases = [({"text": ""}, 400, "text"), ({"text": "x" * 501}, 400, "500"), ({}, 400, "text"),
             ({"text": "hi", "html": "<b>"}, 400, "html"), ({"text": 5}, 400, "text"), ([1], 400, "object"),
             ({"text": "   "}, 400, "text")]
    for body, status, word in cases:
        resp = client.post(url, json=body, headers=world.bearer("eve"))
        assert resp.status_code == status and word in resp.json["error"], (body, resp.json)
    assert client.post(url, json={"text": "hi"}, headers=world.bearer("cora")).status_code == 403
    assert client.post(url, json={"text": "hi"}, headers=world.bearer("emil")).status_code == 404
    assert client.post(f"{url}/read", json={"up_to": 0}, headers=world.bearer("eve")).status_code == 400
    ended = world.make_trip(status="completed")
    resp = client.post(f"/api/v1/trips/{ended.id}/messages", json={"text": "hi"}, headers=world.bearer("dan"))
    assert resp.status_code == 409 and "completed" in resp.json["error"]
    assert session.exec(select(TripMessage)).all() == []


# --- Socket.IO --------------------------------------------------------------------------------


def test_a_message_goes_from_the_tablet_to_dispatch_and_back_with_read_receipts(app, world):
    with ThreadedServer(app) as server:
        tablet = Client(server.url, "/device", {"token": world.device_token})
        desk = Client(server.url, "/dispatch", {"token": world.api_tokens["dan"]})
        try:
            ack = tablet.call("message", {"trip_id": world.trip.id, "text": "Need assistance"})
            assert ack["ok"] and ack["message"]["from"] == "escort", ack
            heard = desk.got("message", lambda m: m["text"] == "Need assistance")
            assert heard["trip_id"] == world.trip.id and heard["by"] == "eve" and heard["read_at"] is None

            ack = desk.call("message", {"trip_id": world.trip.id, "text": "Calling you now"})
            assert ack["ok"] and ack["message"]["from"] == "dispatch"
            incoming = tablet.got("message", lambda m: m["text"] == "Calling you now")

            # The tablet displayed it: dispatch learns it was read.
            ack = tablet.call("messages_read", {"trip_id": world.trip.id, "up_to": incoming["id"]})
            assert ack["ok"] and [m["id"] for m in ack["read"]] == [incoming["id"]]
            desk.got("message", lambda m: m["id"] == incoming["id"] and m["read_at"] is not None)
            # And dispatch displayed the escort's: the tablet learns it too.
            assert desk.call("messages_read", {"trip_id": world.trip.id, "up_to": incoming["id"]})["ok"]
            tablet.got("message", lambda m: m["id"] == heard["id"] and m["read_at"] is not None)
        finally:
            tablet.close()
            desk.close()


def test_socket_messages_are_refused_with_a_reason(app, world):
    other = world.make_trip(status="on_board", escort="emil", device=None)
    with ThreadedServer(app) as server:
        tablet = Client(server.url, "/device", {"token": world.device_token})
        try:
            for data, word in (({"trip_id": world.trip.id, "text": ""}, "text"),
                               ({"trip_id": world.trip.id, "text": "y" * 501}, "500"),
                               ({"trip_id": world.trip.id}, "text"),
                               ({"trip_id": other.id, "text": "hi"}, "no such trip"),
                               ({"trip_id": True, "text": "hi"}, "no such trip"),
                               ("hello", "trip_id")):
                ack = tablet.call("message", data)
                assert ack["ok"] is False and word in ack["error"], (data, ack)
        finally:
            tablet.close()


# --- medication ---------------------------------------------------------------------------------


def test_a_dose_given_closes_medication_due_and_a_skipped_one_needs_a_reason(client, world, session):
    started = world.trip.started_at.replace(second=0, microsecond=0) + timedelta(minutes=1)
    due = started + timedelta(minutes=10)
    world.patient.medications = [{"name": "Insulin", "dose": "8 units", "times": [due.strftime("%H:%M")]},
                                 {"name": "Paracetamol", "dose": "1 g", "times": [due.strftime("%H:%M")]}]
    world.trip.settings = {"medication_grace_s": 600, "signal_lost_after_s": 86400, "checkin_interval_s": 86400}
    session.add_all([world.patient, world.trip])
    session.commit()
    scheduler.sweep(session, now=due + timedelta(seconds=605), channels=Channels())
    session.expire_all()
    [alert] = session.exec(select(Alert).where(Alert.kind == "medication_due", Alert.resolved_at.is_(None))).all()

    url = f"/api/v1/trips/{world.trip.id}/medications"
    listed = client.get(url, headers=world.bearer("eve")).json
    assert {d["medication"] for d in listed["due"]} >= {"Insulin", "Paracetamol"}
    for body, word in (({"medication": "Aspirin", "outcome": "given"}, "Insulin"),
                       ({"medication": "Insulin", "outcome": "maybe"}, "outcome"),
                       ({"medication": "Paracetamol", "outcome": "skipped"}, "reason"),
                       ({"medication": "Insulin", "outcome": "given", "due_at": "2000-01-01T00:00:00Z"}, "due_at")):
        resp = client.post(url, json=body, headers=world.bearer("eve"))
        assert resp.status_code == 400 and word in resp.json["error"], (body, resp.json)

    which = alerts_medication(alert)
    given = client.post(url, json={"medication": which, "outcome": "given"}, headers=world.bearer("eve"))
    assert given.status_code == 201 and given.json["closed_alert_id"] == alert.id, given.json
    other = "Paracetamol" if which == "Insulin" else "Insulin"
    skipped = client.post(url, json={"medication": other, "outcome": "skipped", "reason": "Patient asleep"},
                          headers=world.bearer("eve"))
    assert skipped.status_code == 201 and skipped.json["reason"] == "Patient asleep"
    session.expire_all()
    assert session.get(Alert, alert.id).resolved_at is not None
    listed = client.get(url, headers=world.bearer("eve")).json
    assert [d for d in listed["due"] if d["due_at"] == given.json["due_at"]] == []
    assert [(r["medication"], r["outcome"]) for r in listed["recorded"]] == [(which, "given"), (other, "skipped")]
    # Recorded doses are neither reminded of nor alerted on again.
    scheduler.sweep(session, now=due + timedelta(seconds=700), channels=Channels())
    session.expire_all()
    assert session.exec(select(Alert).where(Alert.kind == "medication_due", Alert.resolved_at.is_(None))).all() == []
    timeline = client.get(f"/api/v1/trips/{world.trip.id}/timeline", headers=world.bearer("dan")).json["timeline"]
    texts = [e["text"] for e in timeline if e["kind"].startswith("medication_")]
    assert f"Medication given: {which}" in texts and f"Medication skipped: {other} (Patient asleep)" in texts
    stored = session.exec(select(TripEvent).where(TripEvent.kind == "medication_skipped")).one()
    assert "Patient asleep" not in str(stored.detail), "the reason is sealed at rest"


def alerts_medication(alert) -> str:
    """Return the medication an alert names (sealed at rest)."""
    return alerts.opened(alert.detail)["medication"]


# --- duty ---------------------------------------------------------------------------------------


def test_off_duty_with_no_trip_positions_are_refused_and_on_duty_stored(app, world, session, client):
    world.trip.status = "completed"
    world.trip.ended_at = utcnow() - timedelta(minutes=5)
    session.add(world.trip)
    session.commit()
    with ThreadedServer(app) as server:
        tablet = Client(server.url, "/device", {"token": world.device_token})
        try:
            ack = tablet.call("fix", fix_payload(1))
            assert ack["ok"] is False and "off duty" in ack["error"], ack
            ack = tablet.call("fixes", [fix_payload(2), fix_payload(3)])
            assert ack["accepted"] == [] and [r["seq"] for r in ack["rejected"]] == [2, 3]

            assert tablet.call("duty", {"on": True}) == {"ok": True, "on": True, "sharing": True}
            assert tablet.call("fix", fix_payload(4)) == {"ok": True, "seq": 4}
            desk = Client(server.url, "/dispatch", {"token": world.api_tokens["dan"]})
            snap = desk.got("snapshot")
            assert [d["device_id"] for d in snap["devices"]] == [world.device.id]
            desk.close()

            watching = Client(server.url, "/dispatch", {"token": world.api_tokens["dan"]})
            watching.got("snapshot")
            assert tablet.call("duty", {"on": False}) == {"ok": True, "on": False, "sharing": False}
            told = watching.got("duty")
            assert told == {"escort": "eve", "on": False, "sharing": False, "device_ids": [world.device.id]}
            watching.close()
            assert tablet.call("fix", fix_payload(5))["ok"] is False
            desk = Client(server.url, "/dispatch", {"token": world.api_tokens["dan"]})
            assert desk.got("snapshot")["devices"] == [], "an escort off duty is on no dispatcher's map"
            desk.close()
            assert tablet.call("duty", {"on": "yes"})["ok"] is False
        finally:
            tablet.close()
    # Over HTTP too; what was acknowledged as stored is stored, the rest is not.
    resp = client.post("/api/v1/fixes", json=[fix_payload(6)], headers={"Authorization": f"Bearer {world.device_token}"})
    assert resp.json["accepted"] == [] and "off duty" in resp.json["rejected"][0]["error"]
    session.expire_all()
    assert [f.seq for f in session.exec(select(Fix).order_by(Fix.seq)).all()] == [4]


def test_an_assigned_trip_shares_the_position_off_duty_and_a_late_backlog_is_kept(app, world, session, client):
    ended_at = utcnow() - timedelta(seconds=30)
    world.trip.status, world.trip.ended_at = "completed", ended_at
    world.trip.started_at = ended_at - timedelta(minutes=10)
    session.add(world.trip)
    session.commit()
    bearer = {"Authorization": f"Bearer {world.device_token}"}
    # A fix queued while the trip was under way belongs to it: kept although the escort is off duty.
    late = client.post("/api/v1/fixes", json=[fix_payload(1, ts=ended_at - timedelta(seconds=10))], headers=bearer)
    assert late.json == {"accepted": [1], "rejected": []}
    assert client.post("/api/v1/fixes", json=[fix_payload(2)], headers=bearer).json["accepted"] == []
    world.make_trip(status="assigned")
    ext = app.extensions["escort"]
    ext.active_trips.forget()
    assert client.post("/api/v1/fixes", json=[fix_payload(3)], headers=bearer).json["accepted"] == [3]
