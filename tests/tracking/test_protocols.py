"""OsmAnd (Traccar Client) and OwnTracks decoders against the real clients' own requests, and over HTTP."""

from __future__ import annotations

import base64
import json
import math
from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlmodel import select

from app.db import utcnow
from dispatch.models import Alert
from tests.conftest import shared_data
from tracking.fix import Fix
from tracking.models import Fix as FixRow
from tracking.protocols import (
    HDOP_TO_M,
    KMH_MPS,
    KNOT_MPS,
    Decoded,
    ProtocolError,
    decode_osmand_json,
    decode_osmand_query,
    decode_owntracks,
    parse_time,
)

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=timezone.utc)


def utc(*args) -> datetime:
    """Return a UTC datetime."""
    return datetime(*args, tzinfo=timezone.utc)


# --- the reference data, read where it lives (never copied) -----------------------------------

def _wire() -> str:
    """Return WIRE_EXAMPLES.txt (skipped when the shared data is absent)."""
    return shared_data("wire", "WIRE_EXAMPLES.txt").read_text()


def _section(start: str, end: str) -> str:
    """Return the part of WIRE_EXAMPLES.txt between two headings."""
    text = _wire()
    return text[text.index(start):text.index(end)]


def _client_urls() -> list[dict]:
    """Return the query parameters of the Traccar Client's own requests (section 1a)."""
    section = _section("1a. Traccar Client", "1b. Server-side")
    return [dict(parse_qsl(urlsplit(line.strip()).query, keep_blank_values=True))
            for line in section.splitlines() if line.strip().startswith("http://")]


def _query_lines() -> list[tuple[dict, str]]:
    """Return Traccar's OsmAnd query strings with what they must give ('rejected' or 'accepted')."""
    out = []
    for line in _section("1b. Server-side", "1c. Protocol page").splitlines():
        line = line.strip()
        if line.startswith("/?"):
            expected = "rejected" if "NULL" in line else "accepted"
            out.append((dict(parse_qsl(line.split()[0][2:], keep_blank_values=True)), expected))
    return out


def _json_lines() -> list[dict]:
    """Return the Traccar Client 9 JSON bodies quoted in section 1b."""
    return [json.loads(line.strip()) for line in _section("1b. Server-side", "1c. Protocol page").splitlines()
            if line.strip().startswith('{"location"')]


def _owntracks_lines() -> list[dict]:
    """Return the OwnTracks JSON payloads quoted in section 2."""
    section = _section("2. OwnTracks HTTP mode", "3. GPSLogger")
    return [json.loads(line.strip()) for line in section.splitlines() if line.strip().startswith("{")]


def _gpslogger_all() -> dict:
    """Return GPSLogger's %ALL parameters (section 3): empty values sent as 'key='."""
    section = _section("3. GPSLogger", "4. Socket.IO")
    [line] = [ln.strip() for ln in section.splitlines() if ln.strip().startswith("lat=") and "&timestamp=" in ln]
    return dict(parse_qsl(line, keep_blank_values=True))


# --- OsmAnd query form ------------------------------------------------------------------------

def test_the_traccar_client_android_requests_decode():
    urls = _client_urls()
    assert len(urls) == 3
    for params in urls:
        decoded = decode_osmand_query(params, now=NOW)
        fix = decoded.fix
        assert decoded.device_key == "123456789012345"
        assert (fix.lat, fix.lon, fix.ts, fix.seq) == (0.0, 0.0, utc(1970, 1, 1), 0), "timestamp=0 is epoch seconds"
        assert fix.speed_mps == 0.0 and fix.heading_deg == 0.0 and fix.altitude_m == 0.0
        assert fix.accuracy_m is None, "accuracy 0.0 (the GPS provider's) means unknown"
        assert fix.battery_pct == 0.0
    assert [decode_osmand_query(p, now=NOW).alarm for p in urls] == [None, None, "alert message"]


def test_every_traccar_query_example_decodes_as_documented():
    cases = _query_lines()
    assert len(cases) == 11
    for params, expected in cases:
        if expected == "rejected":
            with pytest.raises(ProtocolError, match="id"):
                decode_osmand_query(params, now=NOW)
            continue
        decoded = decode_osmand_query(params, now=NOW)
        assert decoded.device_key == (params.get("id") or params.get("deviceid"))
        assert decoded.alarm is None
        if "lat" in params or "location" in params:
            [fix] = decoded.fixes
            lat, lon = (params["lat"], params["lon"]) if "lat" in params else params["location"].split(",")
            assert (fix.lat, fix.lon) == (float(lat), float(lon))
            assert fix.ts.tzinfo is timezone.utc and fix.seq == int(fix.ts.timestamp() * 1000)
        else:
            assert decoded.fixes == [] and decoded.fix is None, "a network-only report stores nothing"


def test_traccar_query_examples_give_traccars_values():
    by_id = {}
    for params, expected in _query_lines():
        if expected == "accepted" and ("lat" in params or "location" in params):
            by_id.setdefault(params.get("id") or params.get("deviceid"), []).append(
                (params, decode_osmand_query(params, now=NOW).fix))
    iso, millis = by_id["902064"]
    assert iso[1].ts == utc(2016, 1, 27, 18, 55, 47)
    assert millis[1].ts == utc(2015, 9, 12, 14, 38, 6, 579000) and millis[1].seq == 1442068686579
    assert iso[1].accuracy_m == 6.0 * HDOP_TO_M, "hdop alone gives an accuracy estimate"
    assert iso[1].altitude_m == 224.0 and iso[1].speed_mps == 0.0
    [(_, spaced)] = by_id["353861053849681"]
    assert spaced.ts == utc(2014, 6, 4, 9, 10, 11), "yyyy-MM-dd HH:mm:ss is UTC"
    full, bare, no_ts, located = by_id["123456"]
    assert full[1].accuracy_m is None, "hdop 0 is no estimate"
    assert bare[1].ts == utc(2013, 8, 22, 13, 14, 27) and bare[1].speed_mps is None
    assert no_ts[0].get("deviceid") and no_ts[1].ts == NOW, "no timestamp: the injected now"
    assert no_ts[1].accuracy_m is None and no_ts[1].heading_deg == 0.0
    assert (located[1].lat, located[1].lon) == (60.0, 30.0)
    [(_, batt)] = by_id["861001000719969"]
    assert batt.battery_pct == 87.0 and batt.ts == NOW
    [(_, obd)] = by_id["123456789012345"]
    assert obd.speed_mps == pytest.approx(40 * 0.514444, rel=1e-5) and obd.heading_deg == pytest.approx(7.19889788244)


def test_gpslogger_all_parameters_decode_with_an_id():
    params = {"id": "logger", **_gpslogger_all()}
    fix = decode_osmand_query(params, now=NOW).fix
    assert (fix.lat, fix.lon, fix.ts) == (12.193, 19.456, utc(2016, 3, 5, 19, 24, 29))
    assert fix.accuracy_m is None, "hdop= (empty) is absent, acc is not an OsmAnd name"


@pytest.mark.parametrize("raw,expected", [
    ("1377177267", utc(2013, 8, 22, 13, 14, 27)),
    ("1377177267.25", utc(2013, 8, 22, 13, 14, 27, 250000)),
    ("1442068686579", utc(2015, 9, 12, 14, 38, 6, 579000)),
    ("2016-01-27T18:55:47Z", utc(2016, 1, 27, 18, 55, 47)),
    ("2016-01-27t18:55:47z", utc(2016, 1, 27, 18, 55, 47)),
    ("2025-06-15T13:45:12.862Z", utc(2025, 6, 15, 13, 45, 12, 862000)),
    ("2016-01-27T20:55:47+02:00", utc(2016, 1, 27, 18, 55, 47)),
    ("2016-01-27T20:55:47+0200", utc(2016, 1, 27, 18, 55, 47)),
    ("2016-01-27T13:55:47-05", utc(2016, 1, 27, 18, 55, 47)),
    ("2016-03-05T21:24:29.949 02:00", utc(2016, 3, 5, 19, 24, 29, 949000)),  # an unencoded "+"
    ("2014-06-04 09:10:11", utc(2014, 6, 4, 9, 10, 11)),
    ("2014-06-04T09:10", utc(2014, 6, 4, 9, 10)),
    ("2014-06-04T09:10:11.123456789Z", utc(2014, 6, 4, 9, 10, 11, 123456)),
    ("", NOW),
    (None, NOW),
    (1377177267, utc(2013, 8, 22, 13, 14, 27)),
    (1442068686579, utc(2015, 9, 12, 14, 38, 6, 579000)),
])
def test_time_forms(raw, expected):
    assert parse_time(raw, now=NOW) == expected


@pytest.mark.parametrize("raw", ["yesterday", "2014-13-01 00:00:00", "2014-06-04", "-5", "1e9", "0x10",
                                 "99999999999999999", "9999-12-31T23:59:59-01:00", "1969-12-31T23:59:59Z",
                                 "١٣٧٧١٧٧٢٦٧", True, float("nan"), float("inf"), -1, [1]])
def test_bad_times_are_protocol_errors(raw):
    with pytest.raises(ProtocolError, match="timestamp"):
        parse_time(raw, now=NOW)


def test_parse_time_needs_an_aware_now():
    with pytest.raises(ValueError, match="aware"):
        parse_time(None, now=datetime(2026, 1, 1))


def test_query_units_and_names():
    q = {"id": "1", "lat": "42.06288", "lon": "-88.23412", "timestamp": "1442068686579", "speed": "10"}
    assert decode_osmand_query(q, now=NOW).fix.speed_mps == pytest.approx(10 * KNOT_MPS)
    both = decode_osmand_query({**q, "hdop": "6", "accuracy": "4"}, now=NOW).fix
    assert both.accuracy_m == 4.0, "an explicit accuracy wins over hdop"
    assert decode_osmand_query({**q, "hacc": "7"}, now=NOW).fix.accuracy_m == 7.0
    assert decode_osmand_query({**q, "heading": "450"}, now=NOW).fix.heading_deg == 90.0
    assert decode_osmand_query({**q, "bearing": "10", "heading": "20"}, now=NOW).fix.heading_deg == 10.0
    unknown = decode_osmand_query({**q, "speed": "-1", "bearing": "-1", "batt": "-1", "accuracy": "-1"}, now=NOW).fix
    assert (unknown.speed_mps, unknown.heading_deg, unknown.battery_pct, unknown.accuracy_m) == (None,) * 4
    absurd = decode_osmand_query({**q, "speed": "1e6", "accuracy": "1e9", "altitude": "1e7", "batt": "101"},
                                 now=NOW).fix
    assert (absurd.speed_mps, absurd.accuracy_m, absurd.altitude_m, absurd.battery_pct) == (None, None, None, 100.0)
    assert (absurd.lat, absurd.lon) == (42.06288, -88.23412), "an implausible reading drops, the position stays"
    extras = {"cell": "257,02,16,2224", "wifi": "00-14-22-01-23-45,-80", "ignition": "true", "rpm": "x",
              "vacc": "0", "fuel": "24", "driverUniqueId": "D1"}
    assert decode_osmand_query({**q, **extras}, now=NOW).fix == decode_osmand_query(q, now=NOW).fix
    assert decode_osmand_query({**q, "mock": "true"}, now=NOW).fix.mock is True, "mock=true is kept (fix.mock)"


def test_query_accepts_multidicts_and_lists():
    from werkzeug.datastructures import MultiDict

    multi = MultiDict([("id", "1"), ("lat", "1.5"), ("lat", "9"), ("lon", "2.5"), ("timestamp", "1377177267")])
    assert (decode_osmand_query(multi, now=NOW).fix.lat) == 1.5, "the first of repeated values"
    listed = {"id": ["1"], "lat": ["1.5"], "lon": ["2.5"]}
    assert decode_osmand_query(listed, now=NOW).fix.lon == 2.5


def test_location_lat_lon_form_and_precedence():
    located = decode_osmand_query({"id": "1", "location": " 60.0 , 30.0 ", "heading": "90", "batt": "87"}, now=NOW)
    assert (located.fix.lat, located.fix.lon, located.fix.heading_deg, located.fix.battery_pct) == (60, 30, 90, 87)
    both = decode_osmand_query({"id": "1", "location": "60.0,30.0", "lat": "1", "lon": "2"}, now=NOW).fix
    assert (both.lat, both.lon) == (1, 2), "explicit lat/lon win over location"


@pytest.mark.parametrize("valid,kept", [("true", True), ("1", True), ("TRUE", True), ("", True),
                                        ("false", False), ("0", False), ("False", False), ("yes", False)])
def test_valid_false_drops_the_position_but_keeps_key_and_alarm(valid, kept):
    decoded = decode_osmand_query({"id": "k", "lat": "1", "lon": "1", "valid": valid, "alarm": "sos"}, now=NOW)
    assert decoded.device_key == "k" and decoded.alarm == "sos"
    assert (decoded.fix is not None) is kept


def test_alarms():
    base = {"id": "1", "lat": "1", "lon": "1"}
    assert decode_osmand_query({**base, "alarm": "sos"}, now=NOW).alarm == "sos"
    assert decode_osmand_query({**base, "alarm": " SOS "}, now=NOW).alarm == "sos"
    assert decode_osmand_query({**base, "alarm": "lowBattery"}, now=NOW).alarm == "lowBattery"
    assert decode_osmand_query({**base, "alarm": ""}, now=NOW).alarm is None
    assert len(decode_osmand_query({**base, "alarm": "x" * 500}, now=NOW).alarm) == 100


@pytest.mark.parametrize("params", [
    {"id": "1", "lat": "999", "lon": "x", "alarm": "sos"},
    {"id": "1", "lat": "1", "lon": "1", "timestamp": "whenever", "alarm": "sos"},
    {"id": "1", "location": "nowhere", "alarm": "sos"},
])
def test_a_panic_survives_a_broken_position(params):
    decoded = decode_osmand_query(params, now=NOW)
    assert decoded.alarm == "sos" and decoded.fixes == []


@pytest.mark.parametrize("params,word", [
    ({"id": "1", "lat": "91", "lon": "0"}, "lat"),
    ({"id": "1", "lat": "0", "lon": "-180.5"}, "lon"),
    ({"id": "1", "lat": "x", "lon": "0"}, "lat"),
    ({"id": "1", "lat": "nan", "lon": "0"}, "lat"),
    ({"id": "1", "lat": "1", "lon": "inf"}, "lon"),
    ({"id": "1", "lat": "1e400", "lon": "0"}, "lat"),
    ({"id": "1", "lat": "1"}, "lon"),
    ({"id": "1", "lon": "1"}, "lat"),
    ({"id": "1", "lat": "1", "lon": "1", "timestamp": "yesterday"}, "timestamp"),
    ({"id": "1", "location": "60.0"}, "location"),
    ({"id": "1", "location": "60.0,east"}, "location longitude"),
    ({"id": "1", "lat": "1", "lon": "1", "speed": "fast"}, "speed"),
    ({"id": "1", "lat": "1", "lon": "1", "heading": "north"}, "heading"),
    ({"id": "1", "lat": "1", "lon": "1", "hacc": "good"}, "hacc"),
    ({"id": "1", "lat": "1", "lon": "1", "hdop": "nan"}, "hdop"),
    ({"id": "1", "lat": "1", "lon": "1", "batt": "full"}, "batt"),
    ({"id": "1", "lat": "1", "lon": "1", "altitude": "high"}, "altitude"),
    ({"id": "", "lat": "1", "lon": "1"}, "id"),
    ({"deviceid": "   ", "lat": "1", "lon": "1"}, "id"),
    ({"id": "x" * 201, "lat": "1", "lon": "1"}, "id"),
])
def test_bad_queries_name_the_field(params, word):
    with pytest.raises(ProtocolError, match=word):
        decode_osmand_query(params, now=NOW)


# --- OsmAnd JSON form -------------------------------------------------------------------------

def test_every_traccar_client_json_example_decodes():
    bodies = _json_lines()
    assert len(bodies) == 2
    first = decode_osmand_json(bodies[0], now=NOW)
    assert first.device_key == "48241179" and first.alarm is None
    fix = first.fix
    assert (fix.lat, fix.lon, fix.accuracy_m, fix.speed_mps, fix.heading_deg, fix.altitude_m, fix.battery_pct) == (
        37.4219983, -122.084, 5, 0, None, 5, 100.0)
    assert fix.ts == utc(2025, 6, 15, 13, 45, 12, 862000) and fix.seq == 1749995112862
    second = decode_osmand_json(bodies[1], now=NOW)
    assert second.device_key == "8737767034"
    fix = second.fix
    assert (fix.lat, fix.lon, fix.accuracy_m, fix.speed_mps, fix.heading_deg, fix.altitude_m) == (
        -6.1148096, 106.6837015, 3.8, 18.67, 63, 35.7), "JSON speed is already m/s"
    assert fix.battery_pct == pytest.approx(79) and fix.ts == utc(2021, 7, 21, 8, 6, 34, 444000)


def _ios_like(**location) -> dict:
    """Return a body shaped like the iOS client's (mock, -1 unknowns, null floor), built here."""
    loc = {"extras": {}, "mock": True, "is_moving": False, "age": 100, "event": "motionchange",
           "coords": {"speed_accuracy": -1, "speed": -1, "longitude": -122.4, "ellipsoidal_altitude": 0,
                      "floor": None, "heading_accuracy": -1, "latitude": 37.785834000000001, "accuracy": 5,
                      "altitude_accuracy": -1, "altitude": 0, "heading": -1},
           "battery": {"level": -1, "is_charging": False}, "activity": {"type": "unknown", "confidence": 100},
           "timestamp": "2025-05-09T04:11:30.579Z"}
    loc.update(location)
    return {"location": loc, "device_id": "658765"}


def test_the_two_other_traccar_json_shapes():
    ios = decode_osmand_json(_ios_like(), now=NOW).fix
    assert ios.lat == 37.785834 and (ios.speed_mps, ios.heading_deg, ios.battery_pct) == (None, None, None)
    assert ios.altitude_m == 0 and ios.accuracy_m == 5
    typed = {"s": "long_device_id", "t": True, "f": False, "i": 1, "d": 1.345, "big": 1763636.3442, "o": {"x": 1}}
    assert decode_osmand_json(_ios_like(extras=typed), now=NOW).fix == ios, "typed extras are ignored"


def test_json_sos_from_the_panic_button_and_other_alarms():
    assert decode_osmand_json(_ios_like(extras={"alarm": "sos"}), now=NOW).alarm == "sos"
    assert decode_osmand_json(_ios_like(alarm="SOS"), now=NOW).alarm == "sos"
    assert decode_osmand_json(_ios_like(extras={"alarm": "fall"}), now=NOW).alarm == "fall"
    broken = _ios_like(extras={"alarm": "sos"}, timestamp="not a time")
    decoded = decode_osmand_json(broken, now=NOW)
    assert decoded.alarm == "sos" and decoded.fixes == [], "a panic survives a broken position"
    with pytest.raises(ProtocolError, match="timestamp"):
        decode_osmand_json(_ios_like(timestamp="not a time"), now=NOW)


def test_json_without_coords_is_a_report_without_a_position():
    heartbeat = {"device_id": "1", "location": {"event": "heartbeat", "battery": {"level": 0.5}}}
    decoded = decode_osmand_json(heartbeat, now=NOW)
    assert decoded.device_key == "1" and decoded.fixes == []
    assert decode_osmand_json({"device_id": "1", "location": {"coords": None}}, now=NOW).fix is None


def test_json_batch_and_defaults():
    loc = _ios_like()["location"]
    later = {**loc, "timestamp": "2025-05-09T04:12:30Z"}
    decoded = decode_osmand_json({"device_id": "1", "location": [later, loc]}, now=NOW)
    assert len(decoded.fixes) == 2 and decoded.fix.ts == utc(2025, 5, 9, 4, 12, 30), "fix is the newest"
    assert decode_osmand_json({"device_id": "1", "location": []}, now=NOW).fixes == []
    no_ts = decode_osmand_json({"device_id": "1", "location": {"coords": {"latitude": 1, "longitude": 2}}}, now=NOW)
    assert no_ts.fix.ts == NOW and no_ts.fix.battery_pct is None
    epoch = decode_osmand_json(_ios_like(timestamp=1749995112862), now=NOW).fix
    assert epoch.ts == utc(2025, 6, 15, 13, 45, 12, 862000), "epoch ms in JSON too"
    assert decode_osmand_json(_ios_like(battery={"level": 3}), now=NOW).fix.battery_pct is None, "not 0..1"
    assert decode_osmand_json(_ios_like(battery=None), now=NOW).fix.battery_pct is None
    with pytest.raises(ProtocolError, match="at most"):
        decode_osmand_json({"device_id": "1", "location": [loc] * 1001}, now=NOW)


@pytest.mark.parametrize("body,word", [
    (None, "JSON object"),
    ([], "JSON object"),
    ("text", "JSON object"),
    ({"location": {}}, "device_id"),
    ({"device_id": "", "location": {}}, "device_id"),
    ({"device_id": 48241179, "location": {}}, "device_id"),
    ({"device_id": "1"}, "location"),
    ({"device_id": "1", "location": "here"}, "location"),
    ({"device_id": "1", "location": [{}, 3]}, r"location\[1\]"),
    ({"device_id": "1", "location": {"coords": {"latitude": 1}}}, "location.coords.longitude"),
    ({"device_id": "1", "location": {"coords": {"latitude": 91, "longitude": 1}}}, "location.coords.latitude"),
    ({"device_id": "1", "location": {"coords": {"latitude": "1", "longitude": 1}}}, "latitude"),
    ({"device_id": "1", "location": {"coords": {"latitude": True, "longitude": 1}}}, "latitude"),
    ({"device_id": "1", "location": {"coords": {"latitude": 1, "longitude": float("nan")}}}, "longitude"),
    ({"device_id": "1", "location": {"coords": {"latitude": 1, "longitude": 1, "speed": "3"}}}, "speed"),
    ({"device_id": "1", "location": {"coords": [1, 2]}}, "coords"),
    ({"device_id": "1", "location": {"coords": {"latitude": 1, "longitude": 1}, "battery": 0.5}}, "battery"),
    ({"device_id": "1", "location": {"coords": {"latitude": 1, "longitude": 1}, "extras": []}}, "extras"),
    ({"device_id": "1", "location": [{"coords": {"latitude": 1, "longitude": 1}, "timestamp": False}]},
     r"location\[0\].timestamp"),
])
def test_bad_json_names_the_field(body, word):
    with pytest.raises(ProtocolError, match=word):
        decode_osmand_json(body, now=NOW)


# --- OwnTracks --------------------------------------------------------------------------------

def test_every_owntracks_payload_in_the_wire_file_decodes():
    payloads = _owntracks_lines()
    assert len(payloads) == 5
    for body in payloads:
        decoded = decode_owntracks(body)
        [fix] = decoded.fixes
        assert (fix.lat, fix.lon) == (body["lat"], body["lon"])
        assert fix.ts == datetime.fromtimestamp(body["tst"], timezone.utc) and fix.seq == body["tst"] * 1000
    booklet = decode_owntracks(payloads[0])
    assert booklet.device_key == "jane", "the user of the payload's topic"
    assert booklet.fix.speed_mps == pytest.approx(61 * KMH_MPS) and booklet.fix.heading_deg == 271
    assert (booklet.fix.accuracy_m, booklet.fix.altitude_m, booklet.fix.battery_pct) == (5, 167, 41)
    assert decode_owntracks(payloads[0], topic_user="eve").device_key == "eve", "the HTTP user wins"
    traccar_first = decode_owntracks(payloads[1]).fix
    assert traccar_first.speed_mps == 0.0 and traccar_first.accuracy_m == 15
    assert decode_owntracks(payloads[2]).device_key is None, "no topic, no user"


def _recorded_owntracks() -> list[tuple[str, str, dict]]:
    """Return (received, topic column, message) of the recorded iPhone session (.rec: TAB-separated)."""
    lines = shared_data("wire", "owntracks-recorder__demo-iphone.rec").read_text().splitlines()
    rows = [line.split("\t", 2) for line in lines if line.strip()]
    assert all(len(row) == 3 for row in rows)
    return [(received, topic.strip(), json.loads(payload)) for received, topic, payload in rows]


def test_the_23_recorded_iphone_locations_are_accepted():
    rows = _recorded_owntracks()
    messages = [message for _, _, message in rows]
    locations = [m for m in messages if m["_type"] == "location"]
    assert len(locations) == 23 and len(messages) == 25
    decoded = [decode_owntracks(m) for m in messages]
    fixes = [f for d in decoded for f in d.fixes]
    assert len(fixes) == 23
    for message, fix in zip(locations, fixes, strict=True):
        assert (fix.lat, fix.lon) == (message["lat"], message["lon"])
        assert fix.ts == datetime.fromtimestamp(message["tst"], timezone.utc)
        assert fix.accuracy_m == message["acc"] and fix.battery_pct == message["batt"]
        if message["vel"] < 0:
            assert fix.speed_mps is None, "vel -1 means unknown"
        else:
            assert fix.speed_mps == pytest.approx(message["vel"] / 3.6)
        assert fix.heading_deg == (message["cog"] if message["cog"] >= 0 else None)
    assert fixes[0].ts == utc(2015, 8, 24, 5, 49, 21) and fixes[0].accuracy_m == 3000
    lwts = [m for m in messages if m["_type"] == "lwt"]
    assert lwts and all(isinstance(m["tst"], str) for m in lwts), "the real lwt's string tst is tolerated"
    assert decode_owntracks(messages).fixes == fixes, "the same session as one list body"


# Which OwnTracks schema cases (test/EXPECTED.txt) we refuse, and why. Everything else is accepted:
# locations give a fix, other types are accepted and ignored, even where the schema finds fault
# with fields we never read (a card's face, a cmd's action, steps, tours, an lwt without tst).
REFUSED = {
    "object-empty.json": "no _type: not an OwnTracks message",
    "location-lat-missing.json": "a location without lat",
    "transition-illegal-lat.json": "a lat that is a string (typed by the schema for every message)",
    "e.json": "encrypted: we cannot read it, and say so rather than drop the phone's positions",
    "e-nodata.json": "encrypted",
    "e-nobase64.json": "encrypted",
}
NOT_JSON = {"cmd-setWaypoints-illegal.json"}  # "tst": 010 - the HTTP endpoint answers 400 before decoding
FIXES = {"array.json": 1, "array-one.json": 1, "l.json": 1, "l2.json": 1, "location-5s.json": 1,
         "location-short.json": 1, "location-sk.json": 1}


def _schema_cases() -> list[tuple[str, str, bool]]:
    """Return (file, schema, valid) for every row of the OwnTracks schema oracle."""
    rows = shared_data("wire", "owntracks-json-schema", "test", "EXPECTED.txt").read_text().splitlines()
    return [(r.split("\t")[0], r.split("\t")[1], r.split("\t")[2] == "valid")
            for r in rows if r.strip() and not r.startswith("#")]


def test_owntracks_schema_cases_are_refused_or_accepted_as_documented():
    folder = shared_data("wire", "owntracks-json-schema", "test")
    cases = _schema_cases()
    assert len(cases) == 59
    refused, not_json, fixes = {}, set(), {}
    for name, _schema, valid in cases:
        try:
            body = json.loads((folder / name).read_text())
        except json.JSONDecodeError:
            assert not valid, name
            not_json.add(name)
            continue
        try:
            decoded = decode_owntracks(body)
        except ProtocolError as exc:
            refused[name] = str(exc)
            continue
        if decoded.fixes:
            fixes[name] = len(decoded.fixes)
        assert all(-90 <= f.lat <= 90 and f.ts.tzinfo is timezone.utc for f in decoded.fixes)
    assert set(refused) == set(REFUSED), refused
    assert not_json == NOT_JSON and fixes == FIXES
    oracle = {name: valid for name, _, valid in cases}
    for name, valid in oracle.items():
        body = None if name in not_json else json.loads((folder / name).read_text())
        if isinstance(body, dict) and body.get("_type") == "location":
            assert (name in refused) is (not valid), f"{name}: a location is refused exactly when invalid"
        if valid and name not in REFUSED:
            assert name not in refused, name
    assert "lat" in refused["location-lat-missing.json"] and "lat" in refused["transition-illegal-lat.json"]
    assert "encrypted" in refused["e.json"]


@pytest.mark.parametrize("body,word", [
    ({}, "_type"),
    ([{"_type": "lwt"}, "x"], "message 1"),
    ("location", "_type"),
    ({"_type": 5}, "_type"),
    ({"_type": "location", "lon": 1, "tst": 1}, "lat"),
    ({"_type": "location", "lat": 1, "tst": 1}, "lon"),
    ({"_type": "location", "lat": 1, "lon": 1}, "tst"),
    ({"_type": "location", "lat": 91, "lon": 1, "tst": 1}, "lat"),
    ({"_type": "location", "lat": "1", "lon": 1, "tst": 1}, "lat"),
    ({"_type": "location", "lat": True, "lon": 1, "tst": 1}, "lat"),
    ({"_type": "location", "lat": 1, "lon": 1, "tst": "1"}, "tst"),
    ({"_type": "location", "lat": 1, "lon": 1, "tst": 1.5}, "tst"),
    ({"_type": "location", "lat": 1, "lon": 1, "tst": -1}, "tst"),
    ({"_type": "location", "lat": 1, "lon": 1, "tst": 10**12}, "tst"),
    ({"_type": "location", "lat": 1, "lon": 1, "tst": 1, "vel": "fast"}, "vel"),
    ({"_type": "location", "lat": 1, "lon": 1, "tst": 1, "batt": float("nan")}, "batt"),
    ({"_type": "waypoint", "lat": None, "lon": 1}, "lat"),
    ({"_type": "encrypted", "data": "YWJj"}, "encrypted"),
])
def test_bad_owntracks_names_the_field(body, word):
    with pytest.raises(ProtocolError, match=word):
        decode_owntracks(body)


def test_owntracks_units_and_unknowns():
    base = {"_type": "location", "lat": 51.5, "lon": -0.1, "tst": 1700000000}
    fix = decode_owntracks({**base, "acc": -1, "vel": -1, "cog": -1, "batt": -1, "alt": -20}).fix
    assert (fix.accuracy_m, fix.speed_mps, fix.heading_deg, fix.battery_pct, fix.altitude_m) == (
        None, None, None, None, -20)
    assert decode_owntracks({**base, "vel": 36}).fix.speed_mps == pytest.approx(10.0)
    assert decode_owntracks({**base, "alt": 142.4, "acc": 3.5}).fix.altitude_m == 142.4
    assert decode_owntracks([]).fixes == [] and decode_owntracks({"_type": "future-type"}).fixes == []


def test_decoded_fix_is_the_newest():
    a, b = Fix(1, 1, utc(2026, 1, 1, 12)), Fix(2, 2, utc(2026, 1, 1, 13))
    assert Decoded("k", [b, a]).fix is b and Decoded("k").fix is None


# --- properties -------------------------------------------------------------------------------

QUERY_KEYS = ["id", "deviceid", "lat", "lon", "location", "timestamp", "speed", "bearing", "heading", "hdop",
              "hacc", "batt", "valid", "accuracy", "altitude", "alarm", "mock"]
ISO_LIKE = r"\A[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}:[0-9]{2}(Z|[+-][0-9]{2}:?[0-9]{2})?\Z"
NUMBERISH = st.one_of(st.text(max_size=24), st.floats().map(str), st.integers().map(str), st.from_regex(ISO_LIKE))


@given(st.dictionaries(st.one_of(st.sampled_from(QUERY_KEYS), st.text(max_size=8)), NUMBERISH))
def test_osmand_query_never_raises_anything_but_protocol_error(params):
    try:
        decoded = decode_osmand_query(params, now=NOW)
    except ProtocolError:
        return
    for fix in decoded.fixes:
        assert -90 <= fix.lat <= 90 and -180 <= fix.lon <= 180 and fix.ts.tzinfo is timezone.utc
        assert fix.seq >= 0 and (fix.heading_deg is None or 0 <= fix.heading_deg < 360)
        assert all(v is None or math.isfinite(v) for v in (fix.speed_mps, fix.accuracy_m, fix.altitude_m))


@given(st.floats(-90, 90), st.floats(-180, 180), st.integers(0, 4_000_000_000), st.floats(0, 200))
def test_osmand_query_round_trips_numbers(lat, lon, ts_s, speed_kn):
    params = {"id": "d", "lat": repr(lat), "lon": repr(lon), "timestamp": str(ts_s), "speed": repr(speed_kn)}
    fix = decode_osmand_query(params, now=NOW).fix
    assert (fix.lat, fix.lon, fix.seq) == (lat, lon, ts_s * 1000)
    assert fix.ts == datetime.fromtimestamp(ts_s, timezone.utc)
    assert fix.speed_mps == pytest.approx(speed_kn * KNOT_MPS)


@given(st.one_of(st.text(max_size=40), st.integers(), st.floats(), st.booleans(), st.none()))
def test_parse_time_never_raises_anything_but_protocol_error(raw):
    try:
        ts = parse_time(raw, now=NOW)
    except ProtocolError:
        return
    assert ts.tzinfo is timezone.utc and ts.year >= 1970


JSONS = st.recursive(st.none() | st.booleans() | st.floats() | st.integers() | st.text(max_size=10),
                     lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner,
                                                                                   max_size=4), max_leaves=20)
COORDS = st.fixed_dictionaries({"latitude": JSONS | st.floats(), "longitude": JSONS | st.floats()},
                               optional={"speed": JSONS, "heading": JSONS, "accuracy": JSONS, "altitude": JSONS})
LOCATION = st.fixed_dictionaries({}, optional={"coords": COORDS | JSONS, "timestamp": JSONS,
                                               "battery": st.fixed_dictionaries({"level": JSONS}) | JSONS,
                                               "extras": st.fixed_dictionaries({"alarm": JSONS}) | JSONS,
                                               "alarm": JSONS})


@given(st.one_of(JSONS, st.fixed_dictionaries({"device_id": st.text(min_size=1, max_size=5) | JSONS,
                                               "location": LOCATION | st.lists(LOCATION, max_size=3) | JSONS})))
def test_osmand_json_never_raises_anything_but_protocol_error(body):
    try:
        decoded = decode_osmand_json(body, now=NOW)
    except ProtocolError:
        return
    assert all(-90 <= f.lat <= 90 and f.ts.tzinfo is timezone.utc for f in decoded.fixes)


OWNTRACKS = st.fixed_dictionaries(
    {"_type": st.sampled_from(["location", "lwt", "transition", "encrypted"]) | JSONS},
    optional={"lat": JSONS, "lon": JSONS, "tst": JSONS | st.integers(), "acc": JSONS, "vel": JSONS,
              "cog": JSONS, "batt": JSONS, "alt": JSONS, "topic": JSONS})


@given(st.one_of(JSONS, OWNTRACKS, st.lists(OWNTRACKS, max_size=3)), st.none() | st.text(max_size=5))
def test_owntracks_never_raises_anything_but_protocol_error(body, user):
    try:
        decoded = decode_owntracks(body, topic_user=user)
    except ProtocolError:
        return
    assert all(-90 <= f.lat <= 90 and f.ts.tzinfo is timezone.utc for f in decoded.fixes)


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


def test_wire_file_states_the_units_we_convert():
    text = _wire()
    assert "speed = location.speed * 1.943844" in text and abs(1 / 1.943844 - KNOT_MPS) < 1e-6, "knots"
    assert "vel km/h" in text and "battery.level 0..1" in text


def test_osmand_refused_fix_is_answered_200_so_the_client_moves_on(client, world, session):
    """A well-formed but too-old fix is refused, not stored, and answered 200: the Traccar
    Client resends until it gets a 200, so a 400 would block its queue for ever."""
    old = int((utcnow() - timedelta(days=30)).timestamp())
    query = urlencode({"id": world.device_token, "lat": "51.5", "lon": "-0.12", "timestamp": str(old)})
    assert client.post(f"/osmand?{query}").status_code == 200
    fresh = urlencode({"id": world.device_token, "lat": "51.5", "lon": "-0.12"})
    assert client.post(f"/osmand?{fresh}").status_code == 200
    session.expire_all()
    stored = session.exec(select(FixRow)).all()
    assert len(stored) == 1 and stored[0].ts > utcnow() - timedelta(minutes=1)
