"""Ingest fuzzed: /device ``fix`` and ``fixes``, POST /api/v1/fixes, /osmand and /owntracks.

Arbitrary JSON and near-valid fixes (the fields a device sends, drawn from far wider ranges
than any device would) never get a 5xx, every ack is ``ok`` or an error with a message, every
fix of a batch is answered once, an accepted seq is stored, and no stored row breaks the
invariants: lat in [-90, 90], lon in [-180, 180], finite, ``ts`` in UTC and within the
accepted window, (device, seq, ts) unique. The big set runs in process (Flask's test client and
Flask-SocketIO's); a smaller set goes over a real Socket.IO connection to gunicorn.
"""

from __future__ import annotations

import base64
import json
import math
from datetime import datetime, timedelta, timezone

import pytest
import socketio as sio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import Session, select

from app.db import utcnow
from app.realtime import socketio
from tracking.pipeline import Limits
from tracking.models import Fix

SETTINGS = settings(max_examples=60, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                           HealthCheck.data_too_large])
LIMITS = Limits()

# --- strategies ---------------------------------------------------------------------------------

SCALARS = (st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats(allow_nan=False, allow_infinity=False)
           | st.text(max_size=12))
JSON = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                                        max_size=4), max_leaves=8)
NUMBERS = (st.floats(-400, 400, allow_nan=False) | st.integers(-400, 400) | st.floats(allow_nan=False, allow_infinity=False)
           | st.integers(-2**80, 2**80))

# Epoch seconds within the accepted window, or just outside it.
EPOCH_NEAR_NOW = st.integers(-8 * 86400, 300).map(lambda offset_s: int(utcnow().timestamp()) + offset_s)


@st.composite
def timestamps(draw):
    """A ``ts`` as devices send it, near now or far from it, or something that is not a time."""
    now = utcnow()
    offset_s = draw(st.integers(-10 * 86400, 600) | st.integers(-10**12, 10**12))
    try:
        when = now + timedelta(seconds=offset_s)
    except OverflowError:
        when = now
    zone = timezone(timedelta(minutes=draw(st.integers(-14 * 60, 14 * 60))))
    return draw(st.sampled_from([
        when.isoformat().replace("+00:00", "Z"), when.astimezone(zone).isoformat(), when.replace(tzinfo=None).isoformat(),
        when.timestamp(), int(when.timestamp()), int(when.timestamp() * 1000),
    ]) | st.sampled_from(["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00", "", "yesterday", "1e400"])
        | JSON)


def mutate(draw, message: dict, wild: dict) -> dict:
    """Replace or drop up to three fields of a valid message with wild values (none a quarter of the time)."""
    message = dict(message)
    for _ in range(draw(st.integers(0, 3))):
        name = draw(st.sampled_from(sorted(wild)))
        if draw(st.integers(0, 4)) == 0:
            message.pop(name, None)
        else:
            message[name] = draw(wild[name])
    return message


@st.composite
def near_fixes(draw):
    """A fix payload: a valid one with some fields made wild, dropped, or left alone."""
    fix = {"seq": draw(st.integers(0, 40)), "lat": draw(st.floats(-90, 90)), "lon": draw(st.floats(-180, 180)),
           "ts": draw(EPOCH_NEAR_NOW.map(lambda t: datetime.fromtimestamp(t, timezone.utc).isoformat())
                      | EPOCH_NEAR_NOW)}
    for name, hi in (("accuracy_m", 100), ("speed_mps", 40), ("heading_deg", 360), ("battery_pct", 100)):
        if draw(st.booleans()):
            fix[name] = draw(st.floats(0, hi))
    wild = {"seq": st.integers(-2**64, 2**64) | JSON, "lat": NUMBERS | JSON, "lon": NUMBERS | JSON,
            "ts": timestamps(), **{name: NUMBERS | JSON for name in
                                   ("accuracy_m", "speed_mps", "heading_deg", "altitude_m", "battery_pct")}}
    return mutate(draw, fix, wild)


PAYLOADS = near_fixes() | JSON


# --- invariants ---------------------------------------------------------------------------------


def check_stored(session: Session) -> list[Fix]:
    """Assert every stored fix keeps the invariants; return the rows."""
    session.expire_all()
    rows = session.exec(select(Fix)).all()
    for row in rows:
        assert isinstance(row.lat, float) and math.isfinite(row.lat) and -90 <= row.lat <= 90, row
        assert isinstance(row.lon, float) and math.isfinite(row.lon) and -180 <= row.lon <= 180, row
        assert row.ts.utcoffset() == timedelta(0) and row.received_at.utcoffset() == timedelta(0), row
        assert row.ts <= row.received_at + timedelta(seconds=LIMITS.max_future_skew_s), row
        assert row.ts >= row.received_at - timedelta(seconds=LIMITS.max_fix_age_s), row
        assert 0 <= row.seq <= 2**63 - 1, row
        for value, lo, hi in ((row.accuracy_m, 0, 100_000), (row.speed_mps, 0, 1000), (row.heading_deg, 0, 360),
                              (row.altitude_m, -1000, 100_000), (row.battery_pct, 0, 100)):
            assert value is None or (math.isfinite(value) and lo <= value <= hi), row
    assert len({(r.device_id, r.seq, r.ts) for r in rows}) == len(rows), "a (device, seq, ts) stored twice"
    return rows


def check_fix_ack(ack) -> None:
    """Assert a ``fix`` ack is ``{"ok": true, "seq"}`` or ``{"ok": false, "seq", "error"}``."""
    assert isinstance(ack, dict) and isinstance(ack.get("ok"), bool), ack
    if ack["ok"]:
        assert isinstance(ack["seq"], int), ack
    else:
        assert isinstance(ack.get("error"), str) and ack["error"], ack
        assert ack.get("seq") is None or isinstance(ack["seq"], int), ack


def check_batch_ack(ack, sent) -> None:
    """Assert a batch ack answers each fix once: accepted seqs and rejections with a reason."""
    assert isinstance(ack, dict), ack
    if isinstance(ack.get("ok"), bool) and not ack["ok"]:
        assert not isinstance(sent, list) and isinstance(ack.get("error"), str) and ack["error"], ack
        return
    assert all(isinstance(s, int) and not isinstance(s, bool) for s in ack["accepted"]), ack
    for rejected in ack["rejected"]:
        assert isinstance(rejected["error"], str) and rejected["error"], ack
        assert rejected["seq"] is None or isinstance(rejected["seq"], int), ack
    assert len(ack["accepted"]) + len(ack["rejected"]) == len(sent), (ack, sent)


def check_accepted_are_stored(rows: list[Fix], device_id: int, seqs) -> None:
    """Assert every acknowledged seq of the device is in the database."""
    stored = {r.seq for r in rows if r.device_id == device_id}
    missing = set(seqs) - stored
    assert not missing, f"acknowledged but not stored: {sorted(missing)[:5]}"


# --- in process: the big set --------------------------------------------------------------------


def _device(app, world):
    """Return a connected in-process /device client."""
    client = socketio.test_client(app, namespace="/device", auth={"token": world.device_token})
    assert client.is_connected("/device")
    return client


def test_device_fix_fuzzed_in_process(app, world, session):
    dev = _device(app, world)

    @SETTINGS
    @given(payload=PAYLOADS)
    def run(payload):
        ack = dev.emit("fix", payload, namespace="/device", callback=True)
        check_fix_ack(ack)
        rows = check_stored(session)
        if ack["ok"]:
            check_accepted_are_stored(rows, world.device.id, [ack["seq"]])

    run()
    assert check_stored(session), "no generated fix was ever stored: the strategies miss the valid region"
    dev.disconnect(namespace="/device")


def test_device_fixes_fuzzed_in_process(app, world, session):
    dev = _device(app, world)

    @SETTINGS
    @given(batch=st.lists(PAYLOADS, max_size=12) | JSON)
    def run(batch):
        ack = dev.emit("fixes", batch, namespace="/device", callback=True)
        check_batch_ack(ack, batch)
        if isinstance(batch, list):
            check_accepted_are_stored(check_stored(session), world.device.id, ack["accepted"])

    run()
    assert check_stored(session), "no generated fix was ever stored: the strategies miss the valid region"
    dev.disconnect(namespace="/device")


def test_rest_fixes_fuzzed(client, world, session):
    headers = {"Authorization": f"Bearer {world.device_token}"}

    @SETTINGS
    @given(body=st.lists(PAYLOADS, max_size=12) | JSON | st.binary(max_size=40))
    def run(body):
        if isinstance(body, bytes):
            resp = client.post("/api/v1/fixes", data=body, headers={**headers, "Content-Type": "application/json"})
        else:
            resp = client.post("/api/v1/fixes", json=body, headers=headers)
        assert resp.status_code in (200, 400), (resp.status_code, resp.get_data(as_text=True)[:300])
        if resp.status_code == 400:
            assert resp.json["error"]
            return
        assert isinstance(body, list)
        check_batch_ack(resp.json, body)
        check_accepted_are_stored(check_stored(session), world.device.id, resp.json["accepted"])

    run()
    assert check_stored(session), "no generated fix was ever stored: the strategies miss the valid region"


OSMAND_NAMES = ["lat", "lon", "timestamp", "speed", "bearing", "heading", "altitude", "accuracy", "hacc", "hdop",
                "batt", "valid", "alarm", "location", "deviceid"]
QUERY_TEXT = (st.text(max_size=12) | NUMBERS.map(str) | st.sampled_from(["nan", "inf", "-inf", "1e400", "sos", "true"])
              | timestamps().map(str))




@st.composite
def osmand_params(draw):
    """OsmAnd query parameters: often a real position and time, with anything else mixed in."""
    params = {}
    if draw(st.booleans()):
        params = {"lat": str(draw(st.floats(-90, 90))), "lon": str(draw(st.floats(-180, 180))),
                  "timestamp": str(draw(EPOCH_NEAR_NOW))}
    extra = draw(st.dictionaries(st.sampled_from(OSMAND_NAMES) | st.text(max_size=6), QUERY_TEXT, max_size=6))
    return {**params, **extra}


def test_osmand_query_fuzzed(client, world, session):
    @SETTINGS
    @given(params=osmand_params(), with_id=st.booleans(), method=st.sampled_from(["get", "post"]))
    def run(params, with_id, method):
        if with_id:
            params = {**params, "id": world.device_token}
        if method == "get":
            resp = client.get("/osmand", query_string=params)
        else:
            resp = client.post("/osmand", data=params)
        assert resp.status_code in (200, 400), (resp.status_code, resp.get_data(as_text=True)[:300])
        if resp.status_code == 400:
            assert resp.json["error"]
        check_stored(session)

    run()
    assert check_stored(session), "no generated fix was ever stored: the strategies miss the valid region"


@st.composite
def osmand_json(draw):
    """A Traccar Client 9 body: device_id and one location or a list of them, fields from wide ranges."""
    def location():
        coords = {"latitude": draw(st.floats(-90, 90) | NUMBERS | JSON),
                  "longitude": draw(st.floats(-180, 180) | NUMBERS | JSON)}
        for name in ("accuracy", "speed", "heading", "altitude"):
            if draw(st.booleans()):
                coords[name] = draw(NUMBERS | JSON)
        loc = {"timestamp": draw(timestamps()), "coords": coords}
        if draw(st.booleans()):
            loc["battery"] = {"level": draw(NUMBERS | JSON)}
        if draw(st.booleans()):
            loc["extras"] = {"alarm": draw(st.sampled_from(["sos", "low battery"]) | JSON)}
        return loc

    many = draw(st.booleans())
    body = {"device_id": draw(st.just("TOKEN") | JSON),
            "location": [location() for _ in range(draw(st.integers(0, 4)))] if many else location()}
    return body


def test_osmand_json_fuzzed(client, world, session):
    @SETTINGS
    @given(body=osmand_json() | JSON)
    def run(body):
        if isinstance(body, dict) and body.get("device_id") == "TOKEN":
            body = {**body, "device_id": world.device_token}
        resp = client.post("/osmand", json=body)
        assert resp.status_code in (200, 400), (resp.status_code, resp.get_data(as_text=True)[:300])
        check_stored(session)

    run()
    assert check_stored(session), "no generated fix was ever stored: the strategies miss the valid region"


@st.composite
def owntracks_messages(draw):
    """An OwnTracks message: a valid location with some fields made wild, or another message type."""
    message = {"_type": "location", "lat": draw(st.floats(-90, 90)), "lon": draw(st.floats(-180, 180)),
               "tst": draw(EPOCH_NEAR_NOW), "tid": "ev"}
    for name, hi in (("acc", 100), ("vel", 150), ("cog", 360), ("alt", 500), ("batt", 100)):
        if draw(st.booleans()):
            message[name] = draw(st.integers(0, hi))
    wild = {"_type": st.sampled_from(["transition", "lwt", "waypoint", "encrypted", "card"]) | JSON,
            "lat": NUMBERS | JSON, "lon": NUMBERS | JSON, "tst": NUMBERS | JSON, "topic": st.text(max_size=20),
            **{name: NUMBERS | JSON for name in ("acc", "vel", "cog", "alt", "batt")}}
    return mutate(draw, message, wild)


def test_owntracks_fuzzed(client, world, session):
    auth = base64.b64encode(f"{world.device.label}:{world.device_token}".encode()).decode()

    @SETTINGS
    @given(body=owntracks_messages() | st.lists(owntracks_messages(), max_size=4) | JSON)
    def run(body):
        resp = client.post("/owntracks", json=body, headers={"Authorization": f"Basic {auth}"})
        assert resp.status_code in (200, 400), (resp.status_code, resp.get_data(as_text=True)[:300])
        if resp.status_code == 200:
            assert resp.json == []
        else:
            assert resp.json["error"]
        check_stored(session)

    run()
    assert check_stored(session), "no generated fix was ever stored: the strategies miss the valid region"


@st.composite
def other_events(draw):
    """A /device event that is not a fix: status, panic or checkin, with fields from wide ranges."""
    event = draw(st.sampled_from(["status", "panic", "checkin"]))
    fields = {"status": {"trip_id": st.integers(-2**70, 2**70) | st.sampled_from([True, 1, 2**31, 2**63]) | JSON,
                         "status": st.sampled_from(["incident", "arrived_dropoff", "flying"]) | JSON,
                         "pin": st.text(max_size=10) | JSON},
              "panic": {"ts": timestamps(), "lat": NUMBERS | JSON, "lon": NUMBERS | JSON},
              "checkin": {"pin": st.text(max_size=10) | JSON}}[event]
    payload = draw(st.fixed_dictionaries({}, optional=fields) | JSON)
    return event, payload


def test_device_status_panic_and_checkin_fuzzed_in_process(app, world, session):
    """Every event is answered with an ack, never an exception, and a panic is never refused."""
    dev = _device(app, world)

    @SETTINGS
    @given(message=other_events())
    def run(message):
        event, payload = message
        ack = dev.emit(event, payload, namespace="/device", callback=True)
        assert isinstance(ack, dict) and isinstance(ack.get("ok"), bool), (event, payload, ack)
        if event == "panic":
            assert ack == {"ok": True}, ack
        elif not ack["ok"]:
            assert isinstance(ack.get("error"), str) and ack["error"], ack
        check_stored(session)

    run()
    assert dev.is_connected("/device")
    dev.disconnect(namespace="/device")


# --- over a real socket: the smaller set --------------------------------------------------------


def test_device_fix_and_fixes_fuzzed_over_a_real_socket(live, world, session):
    """Real JSON on a real socket: NaN, Infinity and 2**80 reach the server as a device could send them."""
    dev = sio.Client(reconnection=False)
    dev.connect(live.url, namespaces=["/device"], auth={"token": world.device_token}, transports=["websocket"],
                wait_timeout=10)
    wild = st.floats() | st.integers(-2**80, 2**80)  # NaN and ±Infinity too: Python's json writes them

    @settings(SETTINGS, max_examples=30)
    @given(payload=PAYLOADS | st.fixed_dictionaries({"seq": st.integers(0, 40), "lat": wild, "lon": wild,
                                                     "ts": timestamps()}),
           batch=st.booleans())
    def run(payload, batch):
        if batch:
            sent = [payload, {**payload, "seq": 41}] if isinstance(payload, dict) else [payload]
            ack = dev.call("fixes", sent, namespace="/device", timeout=10)
            check_batch_ack(ack, sent)
            seqs = ack["accepted"]
        else:
            ack = dev.call("fix", payload, namespace="/device", timeout=10)
            check_fix_ack(ack)
            seqs = [ack["seq"]] if ack["ok"] else []
        check_accepted_are_stored(check_stored(session), world.device.id, seqs)

    try:
        run()
        assert dev.connected, "the server dropped the connection"
        assert check_stored(session), "no generated fix was ever stored over the socket"
    finally:
        dev.disconnect()
    log = live.log_path.read_text()
    assert "Traceback" not in log, log[-3000:]


# --- regressions the fuzzing found --------------------------------------------------------------


@pytest.mark.parametrize("ts", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"])
def test_a_fix_time_utc_cannot_hold_is_refused_not_a_500(client, app, world, session, ts):
    fix = {"seq": 7, "lat": 51.5, "lon": -0.12, "ts": ts}
    resp = client.post("/api/v1/fixes", json=[fix], headers={"Authorization": f"Bearer {world.device_token}"})
    assert resp.status_code == 200 and resp.json["accepted"] == []
    assert resp.json["rejected"][0]["seq"] == 7 and "ts" in resp.json["rejected"][0]["error"]
    dev = _device(app, world)
    ack = dev.emit("fix", fix, namespace="/device", callback=True)
    assert ack["ok"] is False and "ts" in ack["error"]
    assert dev.emit("panic", {"ts": ts}, namespace="/device", callback=True) == {"ok": True}
    assert check_stored(session) == []


def test_json_text_with_nan_is_refused_with_a_reason(client, world, session):
    body = json.dumps([{"seq": 1, "lat": float("nan"), "lon": 0.0, "ts": utcnow().isoformat()}])
    resp = client.post("/api/v1/fixes", data=body, headers={"Authorization": f"Bearer {world.device_token}",
                                                             "Content-Type": "application/json"})
    assert resp.status_code in (200, 400)
    assert (resp.json.get("accepted") or []) == [] and check_stored(session) == []


@pytest.mark.parametrize("trip_id", [2**70, 2**63, True, 1.0, "1"])
def test_status_with_a_trip_id_that_is_no_row_id_is_refused(app, world, session, trip_id):
    """2**70 crashed the handler (OverflowError) and True moved trip 1: both are "no such trip"."""
    dev = _device(app, world)
    ack = dev.emit("status", {"trip_id": trip_id, "status": "incident"}, namespace="/device", callback=True)
    assert ack == {"ok": False, "error": "no such trip of yours"}
    session.expire_all()
    assert session.get(type(world.trip), world.trip.id).status == "on_board"
