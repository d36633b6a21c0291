"""Positions a phone marks as mocked are stored with the mark and shown with it everywhere a fix goes."""

from __future__ import annotations

import csv
import io
import time
from datetime import timedelta

from sqlmodel import select

from app.db import utcnow
from app.realtime import socketio
from tests.factories import fix_payload, login
from tracking.models import Fix
from tracking.protocols import decode_osmand_json, decode_osmand_query


def test_decoders_read_the_mock_mark_of_traccar_client():
    now = utcnow()
    ts = str(int(now.timestamp()))
    query = {"id": "k", "lat": "51.5", "lon": "-0.12", "timestamp": ts}
    assert decode_osmand_query({**query, "mock": "true"}, now=now).fixes[0].mock is True
    assert decode_osmand_query(query, now=now).fixes[0].mock is False
    location = {"timestamp": now.isoformat(), "coords": {"latitude": 37.785834000000001, "longitude": -122.406417}}
    assert decode_osmand_json({"device_id": "k", "location": {**location, "mock": True}}, now=now).fixes[0].mock
    assert not decode_osmand_json({"device_id": "k", "location": location}, now=now).fixes[0].mock


def _positions(disp, count: int) -> list[dict]:
    got: list[dict] = []
    deadline = time.monotonic() + 5
    while len(got) < count and time.monotonic() < deadline:
        got += [f for m in disp.get_received("/dispatch") if m["name"] == "positions" for f in m["args"][0]["fixes"]]
        time.sleep(0.02)
    return got


def test_a_mock_position_is_stored_marked_and_carried_to_screens_and_exports(app, client, world, session):
    disp = socketio.test_client(app, namespace="/dispatch", flask_test_client=login(app.test_client(), "dan"))
    disp.get_received("/dispatch")
    start = utcnow() - timedelta(seconds=30)
    bearer = {"Authorization": f"Bearer {world.device_token}"}
    resp = client.post("/api/v1/fixes", headers=bearer, json=[fix_payload(1, ts=start, mock=True),
                                                                fix_payload(2, ts=start + timedelta(seconds=5))])
    assert resp.json["accepted"] == [1, 2]
    assert client.post("/api/v1/fixes", headers=bearer, json=[fix_payload(9, mock="yes")]).json["rejected"]
    stamp = int((start + timedelta(seconds=10)).timestamp())
    assert client.post(f"/osmand?id={world.device_token}&lat=51.5008&lon=-0.1245&timestamp={stamp}&mock=true"
                       ).status_code == 200
    dev = socketio.test_client(app, namespace="/device", auth={"token": world.device_token})
    ack = dev.emit("fix", fix_payload(4, ts=start + timedelta(seconds=15), mock=True), namespace="/device",
                   callback=True)
    assert ack == {"ok": True, "seq": 4}
    session.expire_all()
    marks = {f.seq: f.mock for f in session.exec(select(Fix)).all()}
    assert sorted(marks.values()) == [False, True, True, True] and marks[1] and not marks[2] and marks[4]

    shown = {f["seq"]: f["mock"] for f in _positions(disp, 4)}
    assert shown[1] is True and shown[2] is False and shown[4] is True
    again = socketio.test_client(app, namespace="/dispatch", flask_test_client=login(app.test_client(), "dan"))
    [snap] = [m["args"][0] for m in again.get_received("/dispatch") if m["name"] == "snapshot"]
    [trip] = snap["trips"]
    assert trip["last_fix"]["seq"] == 4 and trip["last_fix"]["mock"] is True
    assert client.get(f"/api/v1/trips/{world.trip.id}", headers=world.bearer("dan")).json["last_fix"]["mock"] is True

    h = world.bearer("dan")
    replay = client.get(f"/api/v1/trips/{world.trip.id}/replay", headers=h).json
    assert [p[4] for p in replay["track"]] == [True, False, True, True]
    rows = list(csv.DictReader(io.StringIO(client.get(f"/api/v1/trips/{world.trip.id}/track.csv",
                                                      headers=h).get_data(as_text=True))))
    assert [r["mock"] for r in rows] == ["1", "0", "1", "1"]
    geo = client.get(f"/api/v1/trips/{world.trip.id}/track.geojson", headers=h).json
    assert geo["features"][0]["properties"]["coordinateProperties"]["mock"] == [True, False, True, True]
    gpx = client.get(f"/api/v1/trips/{world.trip.id}/track.gpx", headers=h).get_data(as_text=True)
    assert gpx.count("<type>mock</type>") == 3
