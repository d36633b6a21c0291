"""Trips get road routes from the router: on creation, on request, and an honest answer when it fails."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import select

from app.db import utcnow
from dispatch import routes
from dispatch.models import Trip, TripEvent
from places.routing import HttpRouter
from tests.factories import ROUTE
from tests.live import free_port

STATION = {"lat": 60.1712064, "lon": 24.9412091}        # Kaivokatu 1
LONNROTINKATU_7 = {"lat": 60.1664105, "lon": 24.9381917}
ALEKSANTERINKATU_52 = {"lat": 60.1686722, "lon": 24.9419347}


def _body(world, **over) -> dict:
    """Return a trip in Helsinki without a route."""
    body = {"patient_id": world.patient.id, "escort": "eve", "pickup": STATION, "dropoff": LONNROTINKATU_7,
            "scheduled_pickup_at": (utcnow() + timedelta(hours=1)).isoformat()}
    body.update(over)
    return body


def _near(point, place, metres: float = 150.0) -> bool:
    """Tell whether a [lat, lon] is within some metres of a place (equirectangular, fine at this scale)."""
    dy = (point[0] - place["lat"]) * 111_195
    dx = (point[1] - place["lon"]) * 111_195 * 0.4974  # cos(60.17°)
    return (dx * dx + dy * dy) ** 0.5 < metres


def test_a_trip_created_without_a_route_gets_the_road_route_and_its_duration(client, world, session):
    resp = client.post("/api/v1/trips", json=_body(world), headers=world.bearer("dan"))
    assert resp.status_code == 201, resp.json
    trip = resp.json
    assert trip["routing"]["computed"] is True and trip["routing"]["router"] == "embedded"
    assert trip["route_source"] == "router:embedded"
    assert len(trip["route"]) > 10
    assert _near(trip["route"][0], STATION) and _near(trip["route"][-1], LONNROTINKATU_7)
    assert 500 < trip["route_distance_m"] < 1500 and 40 < trip["route_duration_s"] < 600
    assert trip["routing"]["duration_s"] == trip["route_duration_s"]
    got = client.get(f"/api/v1/trips/{trip['id']}", headers=world.bearer("dan")).json
    assert got["route"] == trip["route"] and got["route_duration_s"] == trip["route_duration_s"]
    stored = session.get(Trip, trip["id"])
    session.refresh(stored)
    assert len(stored.route_durations_s) == len(stored.route) - 1
    events = session.exec(select(TripEvent).where(TripEvent.trip_id == trip["id"],
                                                  TripEvent.kind == "route_planned")).all()
    assert len(events) == 1 and events[0].detail["source"] == "router:embedded"


def test_the_route_passes_the_allowed_stops_in_order(client, world):
    stop = {**ALEKSANTERINKATU_52, "radius_m": 40}
    direct = client.post("/api/v1/trips", json=_body(world), headers=world.bearer("dan")).json
    via = client.post("/api/v1/trips", json=_body(world, allowed_stops=[stop]), headers=world.bearer("dan")).json
    assert any(_near(p, stop, 60) for p in via["route"])
    assert via["route_duration_s"] >= direct["route_duration_s"]


def test_a_trip_with_its_own_route_keeps_it(client, world):
    line = {"type": "LineString", "coordinates": [[lon, lat] for lat, lon in ROUTE]}
    trip = client.post("/api/v1/trips", json=_body(world, route=line), headers=world.bearer("dan")).json
    assert trip["route"] == [list(p) for p in ROUTE] and trip["route_source"] == "upload"
    assert "routing" not in trip and trip["route_duration_s"] is None


def test_when_the_router_cannot_route_the_trip_is_created_and_the_answer_says_so(client, world):
    london = {"lat": ROUTE[0][0], "lon": ROUTE[0][1]}  # off the embedded map
    resp = client.post("/api/v1/trips", json=_body(world, pickup=london), headers=world.bearer("dan"))
    assert resp.status_code == 201, resp.json
    trip = resp.json
    assert trip["routing"]["computed"] is False
    assert "nearest road" in trip["routing"]["error"] and "upload a GPX" in trip["routing"]["error"]
    assert trip["route"] == [] and trip["route_source"] is None and trip["routing"]["reason"] == "no_road_route"
    again = client.post(f"/api/v1/trips/{trip['id']}/route", json={"compute": True}, headers=world.bearer("dan"))
    assert again.status_code == 409 and "nearest road" in again.json["error"]


def test_when_the_router_is_down_the_trip_is_created_without_a_route(app, client, world):
    app.extensions["escort"].router = HttpRouter(f"osrm+http://127.0.0.1:{free_port()}", timeout_s=2)
    resp = client.post("/api/v1/trips", json=_body(world), headers=world.bearer("dan"))
    assert resp.status_code == 201, resp.json
    assert resp.json["routing"]["computed"] is False and "osrm router at" in resp.json["routing"]["error"]
    assert resp.json["route"] == []
    again = client.post(f"/api/v1/trips/{resp.json['id']}/route", json={"compute": True}, headers=world.bearer("dan"))
    assert again.status_code == 503 and "osrm router at" in again.json["error"]
    assert again.json["routing"]["reason"] == "router_unavailable"


def test_the_dispatcher_asks_for_the_road_route_again_after_an_upload(client, world):
    trip = client.post("/api/v1/trips", json=_body(world), headers=world.bearer("dan")).json
    line = {"type": "LineString", "coordinates": [[STATION["lon"], STATION["lat"]],
                                                  [LONNROTINKATU_7["lon"], LONNROTINKATU_7["lat"]]]}
    uploaded = client.put(f"/api/v1/trips/{trip['id']}/route", json=line, headers=world.bearer("dan")).json
    assert len(uploaded["route"]) == 2 and uploaded["route_source"] == "upload"
    assert uploaded["route_duration_s"] is None
    again = client.post(f"/api/v1/trips/{trip['id']}/route", json={"compute": True}, headers=world.bearer("dan"))
    assert again.status_code == 200, again.json
    assert again.json["route"] == trip["route"] and again.json["route_source"] == "router:embedded"
    assert again.json["routing"]["computed"] is True


def test_asking_for_a_route_checks_the_body_and_the_role(client, world):
    url = f"/api/v1/trips/{world.trip.id}/route"
    assert client.post(url, json={"compute": True}, headers=world.bearer("eve")).status_code == 403
    assert client.post(url, json={"compute": True}, headers=world.bearer("cora")).status_code == 403
    bad = client.post(url, json={"compute": False}, headers=world.bearer("dan"))
    assert bad.status_code == 400 and "compute" in bad.json["error"]
    assert client.post(url, json={}, headers=world.bearer("dan")).status_code == 400
    assert client.post("/api/v1/trips/424242/route", json={"compute": True},
                       headers=world.bearer("dan")).status_code == 404


def test_the_pickup_leg_is_routed_from_the_escorts_position(app, world, session):
    trip = session.get(Trip, world.trip.id)
    trip.pickup_lat, trip.pickup_lon = LONNROTINKATU_7["lat"], LONNROTINKATU_7["lon"]
    router = app.extensions["escort"].router
    leg = routes.pickup_leg(router, (STATION["lat"], STATION["lon"]), trip)
    assert leg is not None and _near(leg.points[-1], LONNROTINKATU_7) and leg.duration_s > 0
    assert routes.pickup_leg(router, ROUTE[0], trip) is None  # from London: no road route
