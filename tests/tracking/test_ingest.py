"""The ingest path over REST and /device: validation, idempotency, trips, acks."""

from __future__ import annotations

import math
from datetime import timedelta

import pytest
from sqlmodel import func, select

from app.db import utcnow
from app.realtime import socketio
from tests.factories import ROUTE, fix_payload
from tracking.models import Device, Fix


def _count(session, **where) -> int:
    """Count stored fixes matching column=value filters."""
    query = select(func.count()).select_from(Fix)
    for key, value in where.items():
        query = query.where(getattr(Fix, key) == value)
    session.expire_all()
    return session.exec(query).one()


def _post(client, token, body):
    """POST a fix list with a device token."""
    return client.post("/api/v1/fixes", json=body, headers={"Authorization": f"Bearer {token}"})


def test_rest_fixes_are_stored_once_and_belong_to_the_active_trip(client, world, session):
    body = [fix_payload(1), fix_payload(2, lat=51.5010, lon=-0.1200)]
    first = _post(client, world.device_token, body)
    again = _post(client, world.device_token, body)
    assert first.status_code == again.status_code == 200
    assert first.json == {"accepted": [1, 2], "rejected": []}
    assert again.json == {"accepted": [1, 2], "rejected": []}
    assert _count(session, device_id=world.device.id) == 2
    assert _count(session, trip_id=world.trip.id) == 2


def test_rest_refuses_without_a_device_token(client, world, session):
    assert _post(client, "nope", [fix_payload(1)]).status_code == 401
    resp = client.post("/api/v1/fixes", json=[fix_payload(1)], headers=world.bearer("dan"))
    assert resp.status_code == 401, "an API token of a user is not a device token"
    assert _count(session) == 0


def test_rest_refuses_a_body_that_is_not_a_list(client, world):
    resp = _post(client, world.device_token, {"seq": 1})
    assert resp.status_code == 400 and "list" in resp.json["error"]
    resp = client.post("/api/v1/fixes", data="{not json", headers={"Authorization": f"Bearer {world.device_token}",
                                                                   "Content-Type": "application/json"})
    assert resp.status_code == 400 and "JSON" in resp.json["error"]


NOW = utcnow()
BAD_FIXES = [
    ("not an object", 5, "object"),
    ("missing lat", {"seq": 1, "lon": 0.1, "ts": NOW.isoformat()}, "lat"),
    ("lat out of range", fix_payload(1, lat=91.0), "lat"),
    ("lon out of range", fix_payload(1, lon=-180.5), "lon"),
    ("lat as string", {**fix_payload(1), "lat": "51.5"}, "lat"),
    ("lat as bool", {**fix_payload(1), "lat": True}, "lat"),
    ("NaN speed", fix_payload(1, speed_mps=math.nan), "speed_mps"),
    ("negative accuracy", fix_payload(1, accuracy_m=-3), "accuracy_m"),
    ("seq as string", {**fix_payload(1), "seq": "1"}, "seq"),
    ("seq negative", {**fix_payload(1), "seq": -4}, "seq"),
    ("naive timestamp", {**fix_payload(1), "ts": "2026-01-01T10:00:00"}, "ts"),
    ("garbage timestamp", {**fix_payload(1), "ts": "yesterday"}, "ts"),
    ("future timestamp", fix_payload(1, ts=NOW + timedelta(hours=2)), "future"),
    ("absurdly old timestamp", fix_payload(1, ts=NOW.replace(year=2000)), "old"),
]


@pytest.mark.parametrize("label,payload,word", BAD_FIXES, ids=[b[0] for b in BAD_FIXES])
def test_bad_fixes_are_refused_with_a_reason_and_not_stored(client, world, session, label, payload, word):
    resp = _post(client, world.device_token, [payload, fix_payload(99)])
    assert resp.status_code == 200
    assert resp.json["accepted"] == [99], label
    [rejected] = resp.json["rejected"]
    assert word in rejected["error"], rejected
    assert _count(session) == 1


def test_a_device_with_no_trip_is_stored_and_shown(app, client, world, session):
    from tracking.devices import create_device

    loner, token = create_device(session, "spare-tracker", None, now=utcnow())
    session.commit()
    assert _post(client, token, [fix_payload(7, lat=51.52, lon=-0.08)]).json["accepted"] == [7]
    assert _count(session, device_id=loner.id) == 1
    session.expire_all()
    device = session.get(Device, loner.id)
    assert (device.last_lat, device.last_lon, device.last_seq) == (51.52, -0.08, 7)


def test_a_late_backlog_after_the_trip_ended_goes_to_that_trip(client, world, session):
    from dispatch import trips as trips_mod

    during = utcnow() - timedelta(seconds=1)
    for step in ("arrived_dropoff", "completed"):
        trips_mod.change_status(session, world.trip, step, world.users["dispatcher"], now=utcnow())
    session.commit()
    after = utcnow() + timedelta(seconds=1)
    world.trip.started_at = during - timedelta(minutes=5)
    world.users["escort"].on_duty = True  # off duty, a fix with no trip is refused (tests/dispatch/test_line.py)
    session.add_all([world.trip, world.users["escort"]])
    session.commit()
    resp = _post(client, world.device_token, [fix_payload(1, ts=during), fix_payload(2, ts=after)])
    assert resp.json["accepted"] == [1, 2]
    session.expire_all()
    rows = {r.seq: r.trip_id for r in session.exec(select(Fix)).all()}
    assert rows == {1: world.trip.id, 2: None}


def _device_client(app, token):
    """Return a Socket.IO test client on /device with a device token."""
    return socketio.test_client(app, namespace="/device", auth={"token": token})


def test_socket_fix_is_acknowledged_and_stored_once(app, world, session):
    dev = _device_client(app, world.device_token)
    assert dev.is_connected("/device")
    fix = fix_payload(1)
    ack = dev.emit("fix", fix, namespace="/device", callback=True)
    assert ack == {"ok": True, "seq": 1}
    assert dev.emit("fix", dict(fix), namespace="/device", callback=True) == {"ok": True, "seq": 1}
    assert _count(session) == 1


def test_socket_refuses_unknown_tokens_and_anonymous(app, world):
    assert not _device_client(app, "esd_wrong").is_connected("/device")
    assert not socketio.test_client(app, namespace="/device").is_connected("/device")


@pytest.mark.parametrize("label,payload,word", BAD_FIXES, ids=[b[0] for b in BAD_FIXES])
def test_socket_bad_fix_gets_an_error_ack_and_the_connection_survives(app, world, session, label, payload, word):
    dev = _device_client(app, world.device_token)
    ack = dev.emit("fix", payload, namespace="/device", callback=True)
    assert ack["ok"] is False and word in ack["error"], ack
    assert dev.emit("fix", fix_payload(50), namespace="/device", callback=True) == {"ok": True, "seq": 50}
    assert _count(session) == 1


def test_socket_batch_flush_acks_each_and_stores_in_order(app, world, session):
    dev = _device_client(app, world.device_token)
    start = utcnow() - timedelta(minutes=3)
    batch = [fix_payload(i, lat=ROUTE[0][0] + i * 1e-5, ts=start + timedelta(seconds=i)) for i in range(1, 41)]
    batch.insert(5, dict(batch[2]))  # a repeat (seq 3 at its own time) inside the batch
    batch.append({"seq": 999, "lat": 200})
    ack = dev.emit("fixes", batch, namespace="/device", callback=True)
    assert ack["ok"] is True
    assert sorted(set(ack["accepted"])) == list(range(1, 41))
    assert [r["seq"] for r in ack["rejected"]] == [999]
    assert _count(session) == 40
    assert dev.emit("fixes", "nope", namespace="/device", callback=True)["ok"] is False


def test_dispatcher_receives_snapshot_then_batched_positions(app, world, session):
    from tests.factories import login

    web = login(app.test_client(), "dan")
    disp = socketio.test_client(app, namespace="/dispatch", flask_test_client=web)
    assert disp.is_connected("/dispatch")
    [snap] = [m for m in disp.get_received("/dispatch") if m["name"] == "snapshot"]
    assert [t["id"] for t in snap["args"][0]["trips"]] == [world.trip.id]
    dev = _device_client(app, world.device_token)
    for seq in (1, 2, 3):
        assert dev.emit("fix", fix_payload(seq), namespace="/device", callback=True)["ok"]
    fixes = _wait_for_positions(disp, 3)
    assert [f["seq"] for f in fixes] == [1, 2, 3]
    assert {f["trip_id"] for f in fixes} == {world.trip.id}


def _wait_for_positions(disp, count: int, timeout_s: float = 5.0) -> list[dict]:
    """Collect fixes from `positions` messages until `count` arrived."""
    import time

    got: list[dict] = []
    deadline = time.monotonic() + timeout_s
    while len(got) < count and time.monotonic() < deadline:
        for msg in disp.get_received("/dispatch"):
            if msg["name"] == "positions":
                got.extend(msg["args"][0]["fixes"])
        time.sleep(0.02)
    return got


def test_dispatch_namespace_refuses_escorts_and_anonymous(app, world):
    from tests.factories import login

    assert not socketio.test_client(app, namespace="/dispatch").is_connected("/dispatch")
    web = login(app.test_client(), "eve")
    assert not socketio.test_client(app, namespace="/dispatch", flask_test_client=web).is_connected("/dispatch")
    bad = socketio.test_client(app, namespace="/dispatch", auth={"token": world.api_tokens["eve"]})
    assert not bad.is_connected("/dispatch")
    good = socketio.test_client(app, namespace="/dispatch", auth={"token": world.api_tokens["dan"]})
    assert good.is_connected("/dispatch")


def test_escort_tablet_session_streams_as_its_own_device(app, world, session):
    from tests.factories import login

    web = login(app.test_client(), "eve")
    tab = socketio.test_client(app, namespace="/device", flask_test_client=web)
    assert tab.is_connected("/device")
    assert tab.emit("fix", fix_payload(10), namespace="/device", callback=True) == {"ok": True, "seq": 10}
    session.expire_all()
    tablet = session.exec(select(Device).where(Device.label == "tablet:eve")).one()
    assert _count(session, device_id=tablet.id, trip_id=world.trip.id) == 1


def test_escort_changes_status_over_the_socket(app, world, session):
    from tests.factories import login

    web = login(app.test_client(), "eve")
    tab = socketio.test_client(app, namespace="/device", flask_test_client=web)
    ack = tab.emit("status", {"trip_id": world.trip.id, "status": "arrived_dropoff"}, namespace="/device",
                   callback=True)
    assert ack["ok"] is True and ack["trip"]["status"] == "arrived_dropoff"
    assert ack["trip"]["allowed_next"] == ["completed", "incident"]
    bad = tab.emit("status", {"trip_id": world.trip.id, "status": "on_board"}, namespace="/device", callback=True)
    assert bad == {"ok": False, "error": "cannot go from arrived_dropoff to on_board"}
    other = login(app.test_client(), "emil")
    tab2 = socketio.test_client(app, namespace="/device", flask_test_client=other)
    ack2 = tab2.emit("status", {"trip_id": world.trip.id, "status": "completed"}, namespace="/device", callback=True)
    assert ack2 == {"ok": False, "error": "no such trip of yours"}


def test_a_device_with_no_trip_is_shown_to_dispatchers(app, client, world, session):
    from tracking.devices import create_device

    loner, token = create_device(session, "spare-tracker", None, now=utcnow())
    session.commit()
    disp = socketio.test_client(app, namespace="/dispatch", auth={"token": world.api_tokens["dan"]})
    disp.get_received("/dispatch")
    _post(client, token, [fix_payload(7, lat=51.52, lon=-0.08)])
    fixes = _wait_for_positions(disp, 1)
    assert (loner.id, None, 51.52) in [(f["device_id"], f["trip_id"], f["lat"]) for f in fixes]
    again = socketio.test_client(app, namespace="/dispatch", auth={"token": world.api_tokens["dan"]})
    [snap] = [m["args"][0] for m in again.get_received("/dispatch") if m["name"] == "snapshot"]
    [shown] = [d for d in snap["devices"] if d["device_id"] == loner.id]
    assert shown["label"] == "spare-tracker" and shown["last_fix"]["lat"] == 51.52
