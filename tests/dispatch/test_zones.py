"""Hazard zones: created from GeoJSON, shown in the snapshot, raising an alert when a trip enters."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import select

from app.db import utcnow
from dispatch.models import Alert
from tests.factories import ROUTE, fix_payload


def _square(lat: float, lon: float, half_deg: float = 0.0005) -> dict:
    """Return a GeoJSON Polygon square around (lat, lon)."""
    ring = [[lon - half_deg, lat - half_deg], [lon + half_deg, lat - half_deg], [lon + half_deg, lat + half_deg],
            [lon - half_deg, lat + half_deg], [lon - half_deg, lat - half_deg]]
    return {"type": "Polygon", "coordinates": [ring]}


def test_entering_a_zone_raises_hazard_zone_and_leaving_clears_it(client, world, session):
    mid = ROUTE[2]
    resp = client.post("/api/v1/hazard-zones", json={"name": "Closed road", "reason": "gas leak",
                                                      "polygon": _square(*mid)}, headers=world.bearer("dan"))
    assert resp.status_code == 201 and resp.json["polygon"][0] == [mid[0] - 0.0005, mid[1] - 0.0005]
    start = utcnow() - timedelta(minutes=10)
    points = [ROUTE[1], ROUTE[2], ROUTE[2], ROUTE[3], ROUTE[4]]
    body = [fix_payload(i + 1, lat=p[0], lon=p[1], ts=start + timedelta(seconds=40 * i)) for i, p in enumerate(points)]
    for fix in body:
        client.post("/api/v1/fixes", json=[fix], headers={"Authorization": f"Bearer {world.device_token}"})
    session.expire_all()
    [alert] = session.exec(select(Alert).where(Alert.kind == "hazard_zone")).all()
    assert alert.detail.get("zone") == "Closed road" or alert.detail.get("name") == "Closed road", alert.detail
    assert alert.resolved_at is not None


@pytest.mark.parametrize("polygon,word", [
    ({"type": "LineString", "coordinates": [[0, 0], [1, 1]]}, "Polygon"),
    ({"type": "Polygon", "coordinates": [[[0, 0], [0, 1], [0, 0]]]}, "3"),
    ({"type": "Polygon", "coordinates": [[[0, 0], [0, 100], [1, 1], [0, 0]]]}, "range"),
    ({"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]}, "simple"),
])
def test_bad_polygons_get_a_clear_400(client, world, polygon, word):
    resp = client.post("/api/v1/hazard-zones", json={"name": "x", "polygon": polygon}, headers=world.bearer("dan"))
    assert resp.status_code == 400 and word in resp.json["error"], resp.json


def test_zones_in_the_snapshot_and_retired(client, world, app):
    from app.realtime import socketio

    made = client.post("/api/v1/hazard-zones", json={"name": "Unsafe parking", "polygon": _square(51.51, -0.1)},
                       headers=world.bearer("dan")).json
    disp = socketio.test_client(app, namespace="/dispatch", auth={"token": world.api_tokens["dan"]})
    [snap] = [m["args"][0] for m in disp.get_received("/dispatch") if m["name"] == "snapshot"]
    assert [z["name"] for z in snap["zones"]] == ["Unsafe parking"]
    assert client.post("/api/v1/hazard-zones", json={"name": "x", "polygon": _square(0, 0)},
                       headers=world.bearer("cora")).status_code == 403
    assert client.delete(f"/api/v1/hazard-zones/{made['id']}", headers=world.bearer("dan")).status_code == 204
    assert client.get("/api/v1/hazard-zones", headers=world.bearer("dan")).json == []
    assert client.delete(f"/api/v1/hazard-zones/{made['id']}", headers=world.bearer("dan")).status_code == 404
