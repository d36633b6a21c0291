"""A trip's planned route from GeoJSON or GPX (gpxpy), with clear errors for bad files."""

from __future__ import annotations

import io

import pytest

from tests.conftest import shared_data

GPX = """<?xml version="1.0" encoding="UTF-8"?>
<gpx version="1.1" creator="test" xmlns="http://www.topografix.com/GPX/1/1">
  <trk><name>planned</name><trkseg>
    <trkpt lat="51.5007" lon="-0.1246"/><trkpt lat="51.5010" lon="-0.1200"/><trkpt lat="51.5014" lon="-0.1150"/>
  </trkseg></trk>
</gpx>"""


def test_gpx_body_and_upload_replace_the_route(client, world):
    url = f"/api/v1/trips/{world.trip.id}/route"
    resp = client.put(url, data=GPX, content_type="application/gpx+xml", headers=world.bearer("dan"))
    assert resp.status_code == 200, resp.json
    assert resp.json["route"] == [[51.5007, -0.1246], [51.501, -0.12], [51.5014, -0.115]]
    up = client.put(url, data={"file": (io.BytesIO(GPX.encode()), "route.gpx")}, headers=world.bearer("dan"))
    assert up.status_code == 200 and len(up.json["route"]) == 3


def test_geojson_route(client, world):
    resp = client.put(f"/api/v1/trips/{world.trip.id}/route", headers=world.bearer("dan"),
                      json={"type": "LineString", "coordinates": [[-0.1, 51.5], [-0.11, 51.51]]})
    assert resp.status_code == 200 and resp.json["route"] == [[51.5, -0.1], [51.51, -0.11]]


@pytest.mark.parametrize("body,word", [
    ("<gpx", "GPX"),
    ("<?xml version='1.0'?><gpx version='1.1' xmlns='http://www.topografix.com/GPX/1/1'></gpx>", "no track"),
    ("<?xml version='1.0'?><gpx version='1.1' xmlns='http://www.topografix.com/GPX/1/1'><trk><trkseg>"
     "<trkpt lat='1' lon='1'/></trkseg></trk></gpx>", "at least 2"),
    ("<?xml version='1.0'?><gpx version='1.1' xmlns='http://www.topografix.com/GPX/1/1'><trk><trkseg>"
     "<trkpt lat='91' lon='1'/><trkpt lat='1' lon='1'/></trkseg></trk></gpx>", "range"),
])
def test_bad_gpx_gets_a_clear_400_and_keeps_the_old_route(client, world, body, word):
    before = client.get(f"/api/v1/trips/{world.trip.id}", headers=world.bearer("dan")).json["route"]
    resp = client.put(f"/api/v1/trips/{world.trip.id}/route", data=body, content_type="application/gpx+xml",
                      headers=world.bearer("dan"))
    assert resp.status_code == 400 and word in resp.json["error"], resp.json
    assert client.get(f"/api/v1/trips/{world.trip.id}", headers=world.bearer("dan")).json["route"] == before


def test_a_multipart_part_without_a_name_is_a_clear_400(client, world):
    """Found by the schemathesis run: a nameless form part made the NUL check fail with a 500."""
    before = client.get(f"/api/v1/trips/{world.trip.id}", headers=world.bearer("dan")).json["route"]
    body = b"--b\r\nContent-Disposition: form-data\r\n\r\nhello\r\n--b--\r\n"
    resp = client.put(f"/api/v1/trips/{world.trip.id}/route", data=body,
                      content_type="multipart/form-data; boundary=b", headers=world.bearer("dan"))
    assert resp.status_code == 400 and resp.json["error"], resp.get_data(as_text=True)
    assert client.get(f"/api/v1/trips/{world.trip.id}", headers=world.bearer("dan")).json["route"] == before


def test_route_upload_needs_a_dispatcher(client, world):
    resp = client.put(f"/api/v1/trips/{world.trip.id}/route", data=GPX, content_type="application/gpx+xml",
                      headers=world.bearer("eve"))
    assert resp.status_code == 403


def test_real_gpx_trace_as_a_planned_route(client, world):
    path = shared_data("traces", "gpxpy__around-visnjan-with-car.gpx")
    resp = client.put(f"/api/v1/trips/{world.trip.id}/route", data=path.read_bytes(),
                      content_type="application/gpx+xml", headers=world.bearer("dan"))
    assert resp.status_code == 200 and len(resp.json["route"]) == 104


def test_a_gpx_of_several_tracks_is_joined_and_the_answer_says_what_was_used(client, world):
    from pathlib import Path

    data = (Path(__file__).parents[1] / "tracking" / "data" / "gpxpy" / "cerknicko-jezero.gpx").read_bytes()
    resp = client.put(f"/api/v1/trips/{world.trip.id}/route", headers=world.bearer("dan"),
                      data={"file": (io.BytesIO(data), "cerknicko-jezero.gpx")})
    assert resp.status_code == 200, resp.json
    assert len(resp.json["route"]) == 296
    assert resp.json["route_note"].startswith("joined 7 tracks, 296 points")
    geojson = client.put(f"/api/v1/trips/{world.trip.id}/route", headers=world.bearer("dan"),
                         json={"type": "LineString", "coordinates": [[-0.1, 51.5], [-0.11, 51.51]]})
    assert geojson.json["route_note"] is None
