"""Re-planning over REST: PATCH a trip (reassign, move, re-time), cancel with a reason, duplicate."""

from __future__ import annotations

from datetime import timedelta

import pytest

from app.db import utcnow
from app.models import AuditEvent
from app.realtime import socketio
from dispatch.models import TripEvent
from tests.factories import ROUTE
from tracking.devices import create_device


@pytest.fixture
def planned(world):
    """Return an assigned trip of eve's, an hour ahead."""
    return world.make_trip(status="assigned", now=utcnow() + timedelta(hours=1))


def _patch(client, world, trip_id, body, who="dan"):
    return client.patch(f"/api/v1/trips/{trip_id}", json=body, headers=world.bearer(who))


def test_reassign_moves_the_trip_between_tablets_and_is_in_the_timeline_and_audit(app, client, world, planned):
    _, emil_token = create_device(world.session, "emil-phone", world.users["escort2"], now=utcnow())
    world.session.commit()
    eve_tab = socketio.test_client(app, namespace="/device", auth={"token": world.device_token})
    emil_tab = socketio.test_client(app, namespace="/device", auth={"token": emil_token})
    eve_tab.get_received("/device"), emil_tab.get_received("/device")
    resp = _patch(client, world, planned.id, {"escort": "emil"})
    assert resp.status_code == 200, resp.json
    assert resp.json["escort"] == "emil" and resp.json["changed"] == ["escort"] and resp.json["device_id"] is None
    eve_got = {m["name"]: m["args"][0] for m in eve_tab.get_received("/device")}
    emil_got = {m["name"]: m["args"][0] for m in emil_tab.get_received("/device")}
    assert eve_got.get("trip_withdrawn") == {"id": planned.id} and "trip" not in eve_got
    assert emil_got["trip"]["id"] == planned.id and "trip_withdrawn" not in emil_got
    world.session.expire_all()
    events = world.session.exec(TripEvent.__table__.select().where(TripEvent.trip_id == planned.id,
                                                                  TripEvent.kind == "reassigned")).all()
    assert [e.detail for e in events] == [{"from": "eve", "to": "emil", "by": "dan"}]
    audit = world.session.exec(AuditEvent.__table__.select().where(AuditEvent.action == "trip_reassigned")).all()
    assert [a.object_id for a in audit] == [planned.id]
    timeline = client.get(f"/api/v1/trips/{planned.id}/timeline", headers=world.bearer("dan")).json["timeline"]
    assert any(item["text"] == "Escort eve → emil by dan" for item in timeline), timeline


def test_patch_moves_places_and_times_and_drops_a_route_drawn_for_the_old_ends(client, world, planned):
    later = utcnow() + timedelta(hours=3)
    resp = _patch(client, world, planned.id, {
        "pickup": {"lat": 51.51, "lon": -0.13}, "scheduled_pickup_at": later.isoformat(),
        "appointment_at": (later + timedelta(minutes=45)).isoformat(),
        "allowed_stops": [{"lat": 51.505, "lon": -0.12, "radius_m": 40}],
        "settings": {"corridor_m": 120},
    })
    assert resp.status_code == 200, resp.json
    trip = resp.json
    assert trip["pickup"] == {"lat": 51.51, "lon": -0.13, "radius_m": 75.0, "address": None} and trip["route"] == []
    assert trip["scheduled_pickup_at"].startswith(later.strftime("%Y-%m-%dT%H:%M"))
    assert trip["allowed_stops"] == [{"lat": 51.505, "lon": -0.12, "radius_m": 40.0}]
    assert trip["settings"]["corridor_m"] == 120.0
    assert set(trip["changed"]) == {"pickup", "route", "scheduled_pickup_at", "appointment_at", "allowed_stops",
                                    "settings"}
    assert trip["status"] == "assigned" and trip["escort"] == "eve"


def test_unassigning_a_planned_trip_sets_it_back_to_scheduled_and_naming_one_assigns_it(client, world, planned):
    assert _patch(client, world, planned.id, {"escort": None}).json["status"] == "scheduled"
    again = _patch(client, world, planned.id, {"escort": "emil"}).json
    assert again["status"] == "assigned" and again["escort"] == "emil"


BAD_PATCHES = [
    ("empty body", {}, "at least one field"),
    ("unknown escort", {"escort": "nobody"}, "nobody"),
    ("a coordinator as escort", {"escort": "cora"}, "cora"),
    ("pickup out of range", {"pickup": {"lat": 91, "lon": 0}}, "pickup.lat"),
    ("null pickup", {"pickup": None}, "pickup"),
    ("naive time", {"scheduled_pickup_at": "2026-12-01T10:00:00"}, "scheduled_pickup_at"),
    ("appointment before pickup", {"appointment_at": "2000-01-01T00:00:00Z"}, "appointment_at"),
    ("bad setting", {"settings": {"corridor_m": -3}}, "corridor_m"),
    ("extra field", {"status": "completed"}, "status"),
]


@pytest.mark.parametrize("label,body,word", BAD_PATCHES, ids=[b[0] for b in BAD_PATCHES])
def test_bad_patches_get_a_clear_400_and_change_nothing(client, world, planned, label, body, word):
    before = client.get(f"/api/v1/trips/{planned.id}", headers=world.bearer("dan")).json
    resp = _patch(client, world, planned.id, body)
    assert resp.status_code == 400, (label, resp.json)
    assert word in resp.json["error"], resp.json
    after = client.get(f"/api/v1/trips/{planned.id}", headers=world.bearer("dan")).json
    assert after == before


def test_what_a_trip_under_way_or_ended_may_change(client, world):
    under_way = world.trip  # on board
    refused = _patch(client, world, under_way.id, {"pickup": {"lat": 51.5, "lon": -0.1}})
    assert refused.status_code == 409 and "under way" in refused.json["error"]
    assert _patch(client, world, under_way.id, {"escort": None}).status_code == 409
    handed = _patch(client, world, under_way.id, {"escort": "emil", "dropoff": {"lat": 51.503, "lon": -0.10}})
    assert handed.status_code == 200 and handed.json["status"] == "on_board" and handed.json["escort"] == "emil"
    done = world.make_trip(status="completed")
    resp = _patch(client, world, done.id, {"escort": "emil"})
    assert resp.status_code == 409 and "completed" in resp.json["error"]


def test_patch_checks_roles_and_existence(client, world, planned):
    assert _patch(client, world, planned.id, {"escort": "emil"}, who="eve").status_code == 403
    assert _patch(client, world, planned.id, {"escort": "emil"}, who="cora").status_code == 403
    assert client.patch(f"/api/v1/trips/{planned.id}", json={"escort": "emil"}).status_code == 401
    assert _patch(client, world, 424242, {"escort": "emil"}).status_code == 404


def test_cancel_with_a_reason_says_it_in_the_timeline(client, world, planned):
    resp = client.post(f"/api/v1/trips/{planned.id}/status", json={"status": "cancelled", "reason": "Patient in hospital"},
                       headers=world.bearer("dan"))
    assert resp.status_code == 200 and resp.json["status"] == "cancelled"
    timeline = client.get(f"/api/v1/trips/{planned.id}/timeline", headers=world.bearer("dan")).json["timeline"]
    assert any("assigned → cancelled by dan: Patient in hospital" in item["text"] for item in timeline), timeline


def test_duplicate_copies_places_and_settings_unassigned_at_new_times(client, world, planned):
    later = utcnow() + timedelta(days=2)
    resp = client.post(f"/api/v1/trips/{planned.id}/duplicate", json={"scheduled_pickup_at": later.isoformat()},
                       headers=world.bearer("dan"))
    assert resp.status_code == 201, resp.json
    copy = resp.json
    assert copy["id"] != planned.id and copy["status"] == "scheduled" and copy["escort"] is None
    assert copy["pickup"]["lat"] == ROUTE[0][0] and copy["route"] == [list(p) for p in ROUTE]
    assert copy["appointment_at"] is not None  # moved with the pickup: an hour after it, as in the source
    plain = client.post(f"/api/v1/trips/{planned.id}/duplicate", headers=world.bearer("dan"))
    source = client.get(f"/api/v1/trips/{planned.id}", headers=world.bearer("dan")).json
    assert plain.status_code == 201 and plain.json["scheduled_pickup_at"] == source["scheduled_pickup_at"]
    bad = client.post(f"/api/v1/trips/{planned.id}/duplicate", json={"escort": "nobody"}, headers=world.bearer("dan"))
    assert bad.status_code == 400 and "nobody" in bad.json["error"]


def test_free_escorts_are_listed_first_and_a_busy_one_names_the_trip(client, world, planned):
    at = planned.scheduled_pickup_at + timedelta(minutes=10)
    resp = client.get("/api/v1/escorts", query_string={"start": at.isoformat()}, headers=world.bearer("dan"))
    assert resp.status_code == 200
    assert resp.json[0] == {"username": "emil", "free": True, "busy_with": None}
    eve = next(r for r in resp.json if r["username"] == "eve")
    assert eve["free"] is False and eve["busy_with"] in (planned.id, world.trip.id)
    assert client.get("/api/v1/escorts", headers=world.bearer("dan")).status_code == 400
    assert client.get("/api/v1/escorts", query_string={"start": "soon"}, headers=world.bearer("dan")).status_code == 400
    huge = {"start": at.isoformat(), "except_trip": str(10**30)}
    assert client.get("/api/v1/escorts", query_string=huge, headers=world.bearer("dan")).status_code == 400
