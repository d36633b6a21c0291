"""OsmAnd (Traccar Client) and OwnTracks decoders against the real clients' own requests, and over HTTP."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlmodel import select

from app.db import utcnow
from dispatch.models import Alert
from tests.conftest import shared_data
from tracking.models import Fix as FixRow
from tracking.protocols import (
    ProtocolError,
    decode_osmand_json,
    decode_osmand_query,
    decode_owntracks,
)

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=timezone.utc)


def _wire() -> str:
    """Return WIRE_EXAMPLES.txt (skipped when the shared data is absent)."""
    return shared_data("wire", "WIRE_EXAMPLES.txt").read_text()


def _section_1b() -> str:
    """Return Traccar's server-side acceptance section."""
    text = _wire()
    return text[text.index("1b. Server-side"):text.index("1c. Protocol page")]


def _query_lines() -> list[tuple[dict, str]]:
    """Return Traccar's OsmAnd query strings with what they must give ('rejected' or 'accepted')."""
    out = []
    for line in _section_1b().splitlines():
        line = line.strip()
        if line.startswith("/?"):
            expected = "rejected" if "NULL" in line else "accepted"
            query = line.split()[0][2:]
            out.append((dict(parse_qsl(query, keep_blank_values=True)), expected))
    return out


def _json_lines() -> list[dict]:
    """Return the Traccar Client 9 JSON bodies quoted in the section."""
    return [json.loads(line.strip()) for line in _section_1b().splitlines() if line.strip().startswith('{"location"')]


def test_every_traccar_query_example_decodes_as_documented():
    cases = _query_lines()
    assert len(cases) == 11
    for params, expected in cases:
        if expected == "rejected":
            with pytest.raises(ProtocolError, match="id"):
                decode_osmand_query(params, now=NOW)
            continue
        decoded = decode_osmand_query(params, now=NOW)
        assert decoded.device_key in (params.get("id"), params.get("deviceid"))
        if "lat" in params or "location" in params:
            [fix] = decoded.fixes
            assert -90 <= fix.lat <= 90 and fix.ts.tzinfo is not None
        else:
            assert decoded.fixes == [], "a network-only report stores nothing"


def test_query_units_and_time_forms():
    ms = decode_osmand_query({"id": "1", "lat": "42.06288", "lon": "-88.23412", "timestamp": "1442068686579",
                              "hdop": "6.0", "speed": "10"}, now=NOW).fixes[0]
    assert ms.ts == datetime(2015, 9, 12, 14, 38, 6, 579000, tzinfo=timezone.utc)
    assert ms.speed_mps == pytest.approx(5.14444) and ms.accuracy_m == 30.0
    spaced = decode_osmand_query({"id": "1", "lat": "49.6", "lon": "6.1", "timestamp": "2014-06-04 09:10:11"},
                                 now=NOW).fixes[0]
    assert spaced.ts == datetime(2014, 6, 4, 9, 10, 11, tzinfo=timezone.utc)
    located = decode_osmand_query({"id": "1", "location": "60.0,30.0", "heading": "90", "batt": "87"},
                                  now=NOW).fixes[0]
    assert (located.lat, located.lon, located.heading_deg, located.battery_pct, located.ts) == (60, 30, 90, 87, NOW)
    assert decode_osmand_query({"id": "1", "lat": "1", "lon": "1", "alarm": "sos"}, now=NOW).alarm == "sos"
    assert decode_osmand_query({"id": "1", "lat": "1", "lon": "1", "valid": "false"}, now=NOW).fixes == []


def test_every_traccar_client_json_example_decodes():
    bodies = _json_lines()
    assert len(bodies) >= 2
    first = decode_osmand_json(bodies[0], now=NOW)
    assert first.device_key == "48241179"
    [fix] = first.fixes
    assert (fix.lat, fix.lon, fix.accuracy_m, fix.speed_mps, fix.heading_deg, fix.battery_pct) == (
        37.4219983, -122.084, 5, 0, None, 100.0)
    second = decode_osmand_json(bodies[1], now=NOW).fixes[0]
    assert second.speed_mps == 18.67 and second.heading_deg == 63 and second.battery_pct == pytest.approx(79)


@pytest.mark.parametrize("params,word", [
    ({"id": "1", "lat": "91", "lon": "0"}, "lat"),
    ({"id": "1", "lat": "x", "lon": "0"}, "lat"),
    ({"id": "1", "lat": "nan", "lon": "0"}, "lat"),
    ({"id": "1", "lat": "1", "lon": "1", "timestamp": "yesterday"}, "timestamp"),
    ({"id": "1", "location": "60.0"}, "location"),
])
def test_bad_queries_name_the_field(params, word):
    with pytest.raises(ProtocolError, match=word):
        decode_osmand_query(params, now=NOW)


def _recorded_owntracks() -> list[dict]:
    """Return the JSON messages of the recorded iPhone session."""
    lines = shared_data("wire", "owntracks-recorder__demo-iphone.rec").read_text().splitlines()
    return [json.loads(line.split("\t", 2)[2]) for line in lines if line.count("\t") >= 2]


def test_the_23_recorded_iphone_locations_are_accepted():
    messages = _recorded_owntracks()
    locations = [m for m in messages if m["_type"] == "location"]
    assert len(locations) == 23
    fixes = [f for m in messages for f in decode_owntracks(m).fixes]
    assert len(fixes) == 23
    for message, fix in zip(locations, fixes, strict=True):
        assert (fix.lat, fix.lon) == (message["lat"], message["lon"])
        if message.get("vel", -1) < 0:
            assert fix.speed_mps is None, "vel -1 means unknown"
    assert fixes[0].ts == datetime.fromtimestamp(1440395361, timezone.utc) and fixes[0].accuracy_m == 3000


def _schema_cases() -> list[tuple[str, bool]]:
    """Return (file, valid) for the OwnTracks schema's single-message cases."""
    rows = shared_data("wire", "owntracks-json-schema", "test", "EXPECTED.txt").read_text().splitlines()
    return [(r.split("\t")[0], r.split("\t")[2].startswith("valid")) for r in rows
            if r and not r.startswith("#") and "message.json" in r.split("\t")[1]]


def test_schema_location_cases_are_refused_or_accepted_as_the_oracle_says():
    folder = shared_data("wire", "owntracks-json-schema", "test")
    checked = 0
    for name, valid in _schema_cases():
        try:
            body = json.loads((folder / name).read_text())
        except json.JSONDecodeError:
            assert not valid, name  # not JSON at all: the HTTP endpoint answers 400 before decoding
            continue
        if not isinstance(body, dict) or body.get("_type") not in ("location", "transition", None):
            continue
        if body.get("_type") == "transition":
            decode_owntracks(body)  # accepted and ignored: no position of ours comes from it
            continue
        checked += 1
        if valid:
            assert len(decode_owntracks(body).fixes) == 1, name
        else:
            with pytest.raises(ProtocolError):
                decode_owntracks(body)
    assert checked >= 6


@given(st.dictionaries(st.sampled_from(["id", "lat", "lon", "timestamp", "speed", "bearing", "hdop", "batt",
                                        "location", "valid", "accuracy", "altitude"]), st.text(max_size=20)))
def test_osmand_query_never_raises_anything_but_protocol_error(params):
    try:
        decode_osmand_query(params, now=NOW)
    except ProtocolError:
        pass


JSONS = st.recursive(st.none() | st.booleans() | st.floats() | st.integers() | st.text(max_size=10),
                     lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner,
                                                                                   max_size=4), max_leaves=20)


@given(st.one_of(JSONS, st.fixed_dictionaries({"_type": st.just("location"), "lat": JSONS, "lon": JSONS,
                                                "tst": JSONS})))
def test_owntracks_never_raises_anything_but_protocol_error(body):
    try:
        decode_owntracks(body)
    except ProtocolError:
        pass


@given(st.one_of(JSONS, st.fixed_dictionaries({"device_id": st.text(min_size=1, max_size=5), "location": JSONS})))
def test_osmand_json_never_raises_anything_but_protocol_error(body):
    try:
        decode_osmand_json(body, now=NOW)
    except ProtocolError:
        pass


# --- over HTTP -------------------------------------------------------------------------------

def _fresh(query: str, token: str) -> str:
    """Put our device token and a recent time into a recorded query string."""
    params = dict(parse_qsl(query, keep_blank_values=True))
    params.pop("deviceid", None)
    params["id"] = token
    if "timestamp" in params:
        params["timestamp"] = str(int((utcnow() - timedelta(seconds=30)).timestamp()))
    return urlencode(params)


def test_traccar_client_requests_over_http_store_once(client, world, session):
    sent = 0
    for method in ("GET", "POST"):
        for params, expected in _query_lines():
            if expected == "rejected" or ("lat" not in params and "location" not in params):
                continue
            query = _fresh(urlencode(params), world.device_token)
            resp = client.open(f"/osmand?{query}", method=method)
            assert resp.status_code == 200, (query, resp.get_data(as_text=True))
            sent += 1
    session.expire_all()
    stored = session.exec(select(FixRow).where(FixRow.device_id == world.device.id)).all()
    assert 0 < len(stored) < sent, "a resent request is stored once"


def test_traccar_client_json_over_http(client, world, session):
    body = _json_lines()[1]
    body["device_id"] = world.device_token
    body["location"]["timestamp"] = (utcnow() - timedelta(seconds=5)).isoformat().replace("+00:00", "Z")
    assert client.post("/osmand", json=body).status_code == 200
    assert client.post("/osmand", json=body).status_code == 200
    session.expire_all()
    [row] = session.exec(select(FixRow)).all()
    assert row.speed_mps == 18.67 and row.trip_id == world.trip.id


def test_osmand_unknown_device_and_bad_requests(client, world, session):
    assert client.get("/osmand?id=nobody&lat=1&lon=1").status_code == 400
    resp = client.get(f"/osmand?id={world.device_token}&lat=100&lon=1")
    assert resp.status_code == 400 and "lat" in resp.json["error"]
    assert client.get("/osmand?lat=1&lon=1").status_code == 400
    assert session.exec(select(FixRow)).all() == []


def test_osmand_alarm_sos_is_a_panic(client, world, session):
    query = urlencode({"id": world.device_token, "lat": "51.5", "lon": "-0.12", "alarm": "sos"})
    assert client.post(f"/osmand?{query}").status_code == 200
    session.expire_all()
    [alert] = session.exec(select(Alert)).all()
    assert alert.kind == "panic" and alert.detail["lat"] == 51.5


def test_owntracks_http_mode(client, world, session):
    import base64

    auth = {"Authorization": "Basic " + base64.b64encode(f"eve-phone:{world.device_token}".encode()).decode()}
    msg = {"_type": "location", "lat": 51.5011, "lon": -0.1201, "tst": int(utcnow().timestamp()) - 10, "acc": 5,
           "vel": 36, "cog": 90, "batt": 80, "tid": "EV"}
    resp = client.post("/owntracks", json=msg, headers=auth)
    assert resp.status_code == 200 and resp.json == []
    assert client.post("/owntracks", json={"_type": "lwt", "tst": 1}, headers=auth).json == []
    bad = client.post("/owntracks", json={"_type": "location", "lon": 1, "tst": 1}, headers=auth)
    assert bad.status_code == 400 and "lat" in bad.json["error"]
    assert client.post("/owntracks", json=msg).status_code == 401
    wrong = {"Authorization": "Basic " + base64.b64encode(f"other:{world.device_token}".encode()).decode()}
    assert client.post("/owntracks", json=msg, headers=wrong).status_code == 401
    session.expire_all()
    [row] = session.exec(select(FixRow)).all()
    assert row.speed_mps == pytest.approx(10.0) and row.heading_deg == 90


def test_wire_file_lists_the_traccar_client_formats():
    text = _wire()
    assert re.search(r"speed = location.speed \* 1.943844", text), "knots, as we convert them"
    assert urlsplit("http://localhost:5055/path?id=1").query == "id=1"
