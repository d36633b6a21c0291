"""Each tracker app's own set-up, replayed as the app sends it: units, trailing slashes, batch sizes."""

from __future__ import annotations

import base64
import json
from datetime import timedelta
from urllib.parse import parse_qsl, urlsplit

import pytest
import socketio as sio
from sqlmodel import select

from app.db import utcnow
from tests.factories import fix_payload
from tests.tracking.test_protocols import NOW, _client_urls, _gpslogger_all, _json_lines, _section, utc
from tracking.models import Fix as FixRow
from tracking.protocols import KMH_MPS, KNOT_MPS, ProtocolError, decode_osmand_query

# The README's templates, as typed into each app (DEVICE_TOKEN stands for the device's token).
OSMAND_TEMPLATE = ("/osmand?app=osmand&id=DEVICE_TOKEN&lat={0}&lon={1}&timestamp={2}&hdop={3}"
                   "&altitude={4}&speed={5}&bearing={6}&batt={11}")
GPSLOGGER_TEMPLATE = ("/osmand?app=gpslogger&id=DEVICE_TOKEN&lat=%LAT&lon=%LON&timestamp=%TIMESTAMP"
                      "&acc=%ACC&spd=%SPD&dir=%DIR&alt=%ALT&batt=%BATT")


def osmand_fills(template: str, values: dict[int, str]) -> str:
    """Fill {n} as OsmAnd's LiveSender does (MessageFormat): a slot it has no value for stays as typed."""
    for index, value in values.items():
        template = template.replace("{%d}" % index, value)
    return template


def gpslogger_fills(template: str, values: dict[str, str]) -> str:
    """Fill %NAME as GPSLogger's custom URL does."""
    for name in sorted(values, key=len, reverse=True):  # %TIMESTAMP before %TIME
        template = template.replace("%" + name, values[name])
    return template


def stored(session) -> list[FixRow]:
    """Return every stored fix, fresh from the database."""
    session.expire_all()
    return session.exec(select(FixRow)).all()


# --- OsmAnd (the app's online tracking) -------------------------------------------------------

def test_osmand_online_tracking_stores_metres_per_second_and_metres(client, world, session):
    sent_ms = int((utcnow() - timedelta(seconds=20)).timestamp() * 1000)
    # What LiveSender puts in each slot: lat/lon as "0.00#####", the rest as Java's toString of
    # System.currentTimeMillis() and of Location's float getAccuracy(), getAltitude(), getSpeed(),
    # getBearing(); {11} the battery percent.
    url = osmand_fills(OSMAND_TEMPLATE.replace("DEVICE_TOKEN", world.device_token), {
        0: "51.5011", 1: "-0.1201", 2: str(sent_ms), 3: "8.0", 4: "35.2", 5: "12.5", 6: "271.0", 11: "87"})
    assert client.get(url).status_code == 200
    [row] = stored(session)
    assert row.speed_mps == 12.5, "OsmAnd's {5} is Location.getSpeed(): metres per second, not knots"
    assert row.accuracy_m == 8.0, "OsmAnd's {3} is Location.getAccuracy(): metres, not an HDOP"
    assert (row.heading_deg, row.altitude_m, row.battery_pct) == (271.0, 35.2, 87.0)
    assert row.seq == sent_ms, "{2} is epoch milliseconds"


def test_an_osmand_that_knows_no_battery_slot_still_tracks(client, world, session):
    # OsmAnd versions before the battery slot fill {0}..{6} only and send "{11}" as typed.
    url = osmand_fills(OSMAND_TEMPLATE.replace("DEVICE_TOKEN", world.device_token), {
        0: "51.5011", 1: "-0.1201", 2: str(int(utcnow().timestamp() * 1000) - 5000), 3: "0.0", 4: "0.0",
        5: "0.0", 6: "0.0"})
    assert "&batt={11}" in url
    resp = client.get(url)
    assert resp.status_code == 200, resp.get_data(as_text=True)
    [row] = stored(session)
    assert row.battery_pct is None and row.accuracy_m is None, "accuracy 0.0 is Android's 'none'"


# --- GPSLogger (custom URL) -------------------------------------------------------------------

def _gpslogger_test_result() -> dict:
    """Return the query of GPSLogger's own CustomUrlManagerTest result (WIRE_EXAMPLES.txt section 3)."""
    section = _section("3. GPSLogger", "4. Socket.IO")
    [line] = [ln.strip() for ln in section.splitlines() if ln.strip().startswith("result:")]
    return dict(parse_qsl(urlsplit(line.split(None, 1)[1]).query, keep_blank_values=True))


def test_gpslogger_own_substitutions_decode_in_its_units():
    result = decode_osmand_query({"app": "gpslogger", "id": "logger", **_gpslogger_test_result()}, now=NOW).fix
    assert (result.lat, result.lon, result.ts) == (12.193, 19.111, utc(2016, 3, 5, 19, 24, 29, 949000))
    assert result.accuracy_m == 8.0 and result.heading_deg == 359.0 and result.altitude_m == 45.0
    assert result.battery_pct == 91.0
    assert result.speed_mps is None, "its test's spd=9005.0 m/s (a mock provider) is implausible, dropped"
    everything = decode_osmand_query({"app": "gpslogger", "id": "logger", **_gpslogger_all()}, now=NOW).fix
    assert everything.ts == utc(2016, 3, 5, 19, 24, 29), "%ALL's timestamp (epoch s) wins over time"
    assert everything.speed_mps == 0.0 and everything.accuracy_m is None and everything.battery_pct == 0.0


def test_gpslogger_custom_url_stores_metres_per_second(client, world, session):
    url = gpslogger_fills(GPSLOGGER_TEMPLATE.replace("DEVICE_TOKEN", world.device_token), {
        "LAT": "51.5011", "LON": "-0.1201", "TIMESTAMP": str(int(utcnow().timestamp()) - 10), "ACC": "6.0",
        "SPD": "12.5", "DIR": "90.0", "ALT": "20.0", "BATT": "64.0"})
    assert client.get(url).status_code == 200  # GPSLogger's default method
    [row] = stored(session)
    assert (row.speed_mps, row.accuracy_m, row.heading_deg, row.battery_pct) == (12.5, 6.0, 90.0, 64.0)


def test_an_app_we_do_not_know_is_refused_not_guessed(client, world, session):
    resp = client.get(f"/osmand?app=locus&id={world.device_token}&lat=51.5&lon=-0.12&speed=3")
    assert resp.status_code == 400 and "app must be one of traccar, osmand, gpslogger" in resp.json["error"]
    assert stored(session) == []
    with pytest.raises(ProtocolError, match="app"):
        decode_osmand_query({"app": "?", "id": "1", "lat": "1", "lon": "1"}, now=NOW)


# --- Traccar Client and OwnTracks, with a trailing slash ---------------------------------------

def test_traccar_client_at_osmand_slash_stores_knots_as_metres_per_second(client, world, session):
    params = _client_urls()[1]  # the client's URL with a path: http://localhost:8888/path?id=…
    params.update(id=world.device_token, timestamp=str(int(utcnow().timestamp()) - 30), speed="19.4",
                  accuracy="4.0")
    query = "&".join(f"{k}={v}" for k, v in params.items())
    resp = client.post(f"/osmand/?{query}")  # POST, parameters in the URL, empty body
    assert resp.status_code == 200, resp.get_data(as_text=True)
    body = _json_lines()[1]
    body["device_id"] = world.device_token
    body["location"]["timestamp"] = (utcnow() - timedelta(seconds=5)).isoformat().replace("+00:00", "Z")
    assert client.post("/osmand/", json=body).status_code == 200
    first, second = sorted(stored(session), key=lambda r: r.ts)
    assert first.speed_mps == pytest.approx(19.4 * KNOT_MPS) and first.accuracy_m == 4.0
    assert second.speed_mps == 18.67, "the JSON form is m/s"


def test_owntracks_at_owntracks_slash(client, world, session):
    section = _section("2. OwnTracks HTTP mode", "3. GPSLogger")
    [payload] = [json.loads(ln.strip()) for ln in section.splitlines() if ln.strip().startswith('{"cog":271')]
    payload["tst"] = int(utcnow().timestamp()) - 10
    auth = base64.b64encode(f"eve-phone:{world.device_token}".encode()).decode()
    resp = client.post("/owntracks/", data=json.dumps(payload), headers={"Authorization": f"Basic {auth}"},
                       content_type="application/json")
    assert resp.status_code == 200 and resp.json == []
    [row] = stored(session)
    assert row.speed_mps == pytest.approx(61 * KMH_MPS) and row.accuracy_m == 5.0


# --- batches over 1000 -------------------------------------------------------------------------

def _batch(count: int) -> list[dict]:
    """Return ``count`` fresh fixes a metre or so apart."""
    return [fix_payload(i, lat=51.5007 + i * 1e-6) for i in range(1, count + 1)]


def test_an_http_batch_over_1000_is_refused_whole(client, world, session):
    headers = {"Authorization": f"Bearer {world.device_token}"}
    resp = client.post("/api/v1/fixes", json=_batch(1001), headers=headers)
    assert resp.status_code == 413 and "at most 1000 fixes" in resp.json["error"]
    assert stored(session) == []


def test_a_socket_batch_over_1000_gets_an_error_ack_and_stores_nothing(live, world, session):
    dev = sio.Client(reconnection=False)
    dev.connect(live.url, namespaces=["/device"], auth={"token": world.device_token}, transports=["websocket"],
                wait_timeout=10)
    try:
        ack = dev.call("fixes", _batch(1001), namespace="/device", timeout=30)
        assert ack["ok"] is False and "at most 1000 fixes" in ack["error"], ack
        assert ack["accepted"] == [] and "retry" not in ack
        assert stored(session) == []
        ack = dev.call("fixes", _batch(1000), namespace="/device", timeout=30)
        assert ack["ok"] is True and len(ack["accepted"]) + len(ack["rejected"]) == 1000, "a split half goes in"
    finally:
        dev.disconnect()
    assert len(stored(session)) == len(ack["accepted"]) > 0
