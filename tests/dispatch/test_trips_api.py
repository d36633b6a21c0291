"""Trips over REST: create, read with the last fix, status changes by role, JSON errors."""

from __future__ import annotations

from datetime import timedelta

import pytest

from app.db import utcnow
from dispatch import trips as trips_mod
from tests.factories import ROUTE, fix_payload, login


def _trip_body(world, **over) -> dict:
    """Return a valid trip creation body."""
    body = {
        "patient_id": world.patient.id, "escort": "eve",
        "pickup": {"lat": ROUTE[0][0], "lon": ROUTE[0][1], "radius_m": 50},
        "dropoff": {"lat": ROUTE[-1][0], "lon": ROUTE[-1][1]},
        "route": {"type": "LineString", "coordinates": [[lon, lat] for lat, lon in ROUTE]},
        "scheduled_pickup_at": (utcnow() + timedelta(hours=1)).isoformat(),
        "settings": {"corridor_m": 80, "checkin_interval_s": 900},
    }
    body.update(over)
    return body


def test_dispatcher_creates_a_trip_and_reads_it_back(client, world):
    resp = client.post("/api/v1/trips", json=_trip_body(world), headers=world.bearer("dan"))
    assert resp.status_code == 201, resp.json
    trip = resp.json
    assert trip["status"] == "assigned" and trip["escort"] == "eve"
    assert trip["route"][0] == [ROUTE[0][0], ROUTE[0][1]], "route is stored as [lat, lon]"
    assert trip["pickup"]["radius_m"] == 50 and trip["dropoff"]["radius_m"] == trips_mod.DEFAULT_GEOFENCE_RADIUS_M
    assert trip["settings"] == {"corridor_m": 80.0, "checkin_interval_s": 900.0}
    got = client.get(f"/api/v1/trips/{trip['id']}", headers=world.bearer("cora"))
    assert got.status_code == 200 and got.json["id"] == trip["id"] and got.json["last_fix"] is None


def test_trip_read_carries_the_last_fix(client, world):
    client.post("/api/v1/fixes", json=[fix_payload(1), fix_payload(2, lat=51.5011)],
                headers={"Authorization": f"Bearer {world.device_token}"})
    got = client.get(f"/api/v1/trips/{world.trip.id}", headers=world.bearer("dan")).json
    assert got["last_fix"]["seq"] == 2 and got["last_fix"]["lat"] == 51.5011
    assert got["allowed_next"] == ["arrived_dropoff", "incident"]


BAD_TRIPS = [
    ("unknown patient", {"patient_id": 9999}, "patient"),
    ("unknown escort", {"escort": "nobody"}, "escort"),
    ("a dispatcher as escort", {"escort": "dan"}, "escort"),
    ("pickup out of range", {"pickup": {"lat": 95, "lon": 0}}, "pickup.lat"),
    ("naive time", {"scheduled_pickup_at": "2026-12-01T10:00:00"}, "scheduled_pickup_at"),
    ("route not a line", {"route": {"type": "Point", "coordinates": [0, 0]}}, "LineString"),
    ("route of one point", {"route": {"type": "LineString", "coordinates": [[0, 0]]}}, "2"),
    ("unknown setting", {"settings": {"corridor_km": 3}}, "corridor_km"),
    ("negative setting", {"settings": {"corridor_m": -5}}, "corridor_m"),
    ("bad timer", {"settings": {"checkin_interval_s": "soon"}}, "checkin_interval_s"),
    ("extra field", {"colour": "red"}, "colour"),
]


@pytest.mark.parametrize("label,over,word", BAD_TRIPS, ids=[b[0] for b in BAD_TRIPS])
def test_bad_trip_requests_get_a_clear_400(client, world, label, over, word):
    resp = client.post("/api/v1/trips", json=_trip_body(world, **over), headers=world.bearer("dan"))
    assert resp.status_code == 400, (label, resp.json)
    assert word in resp.json["error"], resp.json


def test_trip_endpoints_check_roles(client, world):
    body = _trip_body(world)
    assert client.post("/api/v1/trips", json=body).status_code == 401
    assert client.post("/api/v1/trips", json=body, headers=world.bearer("eve")).status_code == 403
    assert client.post("/api/v1/trips", json=body, headers=world.bearer("cora")).status_code == 403
    assert client.get(f"/api/v1/trips/{world.trip.id}", headers=world.bearer("eve")).status_code == 403
    assert client.get("/api/v1/trips/424242", headers=world.bearer("dan")).status_code == 404


def test_status_changes_follow_the_lifecycle(client, world):
    url = f"/api/v1/trips/{world.trip.id}/status"
    assert client.post(url, json={"status": "completed"}, headers=world.bearer("dan")).status_code == 409
    assert client.post(url, json={"status": "flying"}, headers=world.bearer("dan")).status_code == 409
    assert client.post(url, json={}, headers=world.bearer("dan")).status_code == 400
    ok = client.post(url, json={"status": "arrived_dropoff"}, headers=world.bearer("eve"))
    assert ok.status_code == 200 and ok.json["status"] == "arrived_dropoff"
    assert "allowed_next" in ok.json and "device_id" not in ok.json, "an escort gets the tablet's view"
    assert client.post(url, json={"status": "completed"}, headers=world.bearer("emil")).status_code == 404
    assert client.post(url, json={"status": "completed"}, headers=world.bearer("cora")).status_code == 403


def test_session_requests_need_the_csrf_token(app, world):
    web = login(app.test_client(), "dan")
    url = f"/api/v1/trips/{world.trip.id}/status"
    assert web.post(url, json={"status": "arrived_dropoff"}).status_code == 400
    from tests.factories import csrf_token

    token = csrf_token(web)
    ok = web.post(url, json={"status": "arrived_dropoff"}, headers={"X-CSRFToken": token})
    assert ok.status_code == 200, ok.json


def test_lifecycle_table_is_closed_and_terminal_states_end():
    for status, nexts in trips_mod.TRANSITIONS.items():
        assert status in trips_mod.STATUSES
        assert set(nexts) <= set(trips_mod.STATUSES)
    for status in trips_mod.TERMINAL:
        assert trips_mod.TRANSITIONS[status] == ()


def test_escort_cannot_take_dispatcher_only_steps(world):
    trip = world.make_trip(status="assigned")
    assert trips_mod.allowed_next(trip, "escort") == ["en_route_pickup", "cancelled"]
    assert trips_mod.allowed_next(trip, "dispatcher") == ["en_route_pickup", "scheduled", "cancelled"]


def test_patients_api_creates_and_reads_with_an_audit_line(client, world, session):
    from sqlmodel import select

    from app.models import AuditEvent

    resp = client.post("/api/v1/patients", json={"name": "Ann", "contacts": [
        {"name": "Bo", "phone": "+31 20 123 4567", "relation": "son"}]}, headers=world.bearer("dan"))
    assert resp.status_code == 201
    pid = resp.json["id"]
    assert client.get(f"/api/v1/patients/{pid}", headers=world.bearer("dan")).json["contacts"][0]["name"] == "Bo"
    assert client.get(f"/api/v1/patients/{pid}", headers=world.bearer("eve")).status_code == 403
    bad = client.post("/api/v1/patients", json={"name": "X", "contacts": [{"name": "Y", "phone": "call me"}]},
                      headers=world.bearer("dan"))
    assert bad.status_code == 400 and "phone" in bad.json["error"]
    session.expire_all()
    reads = session.exec(select(AuditEvent).where(AuditEvent.action == "patient_read")).all()
    assert [(r.username, r.object_id) for r in reads] == [("dan", pid)]
