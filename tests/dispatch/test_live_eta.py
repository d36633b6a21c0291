"""The trip answers its live ETA while under way: fixes sent over HTTP move it, and 'late' follows it."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from app.db import utcnow
from dispatch import arrival, present
from tests.factories import ROUTE, fix_payload
from tracking.eta import URBAN_DETOUR_FACTOR, Leg
from tracking.geo import Route, haversine_m

ROUTE_M = Route(ROUTE).length_m


def _send(client, world, points, start: datetime, first_seq: int = 1, step_s: int = 10) -> None:
    """Post fixes at ``points`` (lat, lon), ``step_s`` apart from ``start``, as the escort's phone does."""
    body = [fix_payload(first_seq + i, lat, lon, ts=start + timedelta(seconds=i * step_s))
            for i, (lat, lon) in enumerate(points)]
    resp = client.post("/api/v1/fixes", json=body, headers={"Authorization": f"Bearer {world.device_token}"})
    assert resp.status_code == 200 and len(resp.json["accepted"]) == len(points), resp.json


def _along(fraction: float) -> tuple[float, float]:
    return Route(ROUTE).point_at(fraction * ROUTE_M)


def _trip(client, world, trip_id=None) -> dict:
    resp = client.get(f"/api/v1/trips/{trip_id or world.trip.id}", headers=world.bearer("dan"))
    assert resp.status_code == 200, resp.json
    return resp.json


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_on_board_the_eta_and_distance_left_follow_the_escort_along_the_route(client, world):
    start = utcnow() - timedelta(minutes=5)
    _send(client, world, [_along(f) for f in (0.0, 0.05, 0.1, 0.15)], start)
    first = _trip(client, world)
    assert first["eta_to"] == "dropoff"
    assert ROUTE_M * 0.75 < first["left_m"] < ROUTE_M * 0.95
    assert _at(first["eta_at"]) >= utcnow() - timedelta(seconds=5)  # read at now, not at the old fix
    _send(client, world, [_along(f) for f in (0.3, 0.45, 0.6, 0.75)], start + timedelta(seconds=40), first_seq=5,
          step_s=15)
    later = _trip(client, world)
    assert later["left_m"] < first["left_m"] - ROUTE_M * 0.4
    assert _at(later["eta_at"]) < _at(first["eta_at"])


def test_the_pickup_leg_is_timed_from_the_escorts_position(client, world, session):
    trip = world.make_trip(status="en_route_pickup")
    world.trip.status = "completed"  # the device's fixes now belong to the new trip
    session.add(world.trip)
    session.commit()
    here = (51.5100, -0.1400)  # about 1.3 km north-west of the pickup
    _send(client, world, [here], utcnow() - timedelta(seconds=30))
    got = _trip(client, world, trip.id)
    straight_m = haversine_m(*here, *ROUTE[0])
    assert got["eta_to"] == "pickup"
    assert got["left_m"] == pytest.approx(straight_m * URBAN_DETOUR_FACTOR, rel=1e-3)
    assert _at(got["eta_at"]) > utcnow() + timedelta(seconds=straight_m / 20)
    assert _trip(client, world)["eta_at"] is None  # a completed trip has no ETA


def test_a_trip_not_under_way_answers_no_eta(client, world):
    trip = world.make_trip(status="scheduled")
    got = _trip(client, world, trip.id)
    assert got["eta_at"] is None and got["left_m"] is None and got["eta_to"] is None


def test_at_the_pickup_the_eta_is_the_whole_route_from_now(client, world):
    trip = world.make_trip(status="arrived_pickup")
    got = _trip(client, world, trip.id)
    assert got["eta_to"] == "dropoff" and got["left_m"] == pytest.approx(ROUTE_M, abs=0.1)
    expected = utcnow() + timedelta(seconds=ROUTE_M / 8.0)  # the urban default speed
    assert abs((_at(got["eta_at"]) - expected).total_seconds()) < 30


def test_the_routers_segment_durations_time_the_eta_and_an_upload_drops_them(client, world, session):
    trip = world.make_trip(status="arrived_pickup")
    trip.route_durations_s = [600.0] * (len(ROUTE) - 1)  # a jam: 40 minutes for 1.4 km
    trip.updated_at = utcnow()
    session.add(trip)
    session.commit()
    slow = _trip(client, world, trip.id)
    assert _at(slow["eta_at"]) > utcnow() + timedelta(minutes=35)
    resp = client.put(f"/api/v1/trips/{trip.id}/route", headers=world.bearer("dan"),
                      json={"type": "LineString", "coordinates": [[lon, lat] for lat, lon in ROUTE]})
    assert resp.status_code == 200
    session.refresh(trip)
    assert trip.route_durations_s is None
    assert _at(_trip(client, world, trip.id)["eta_at"]) < utcnow() + timedelta(minutes=10)


def test_durations_that_do_not_fit_the_route_are_ignored_not_a_500(client, world, session):
    trip = world.make_trip(status="arrived_pickup")
    trip.route_durations_s = [1.0, -5, "x"]
    trip.updated_at = utcnow()
    session.add(trip)
    session.commit()
    assert _trip(client, world, trip.id)["left_m"] == pytest.approx(ROUTE_M, abs=0.1)


def test_the_pickup_leg_takes_a_routed_leg_through_the_seam(world, session):
    trip = world.make_trip(status="en_route_pickup")
    fix = type("F", (), {"lat": 51.51, "lon": -0.14, "ts": utcnow(), "speed_mps": None})()
    now = utcnow()
    found = arrival.estimate(session, trip, now=now, last_fix=fix, leg_router=lambda a, b: Leg(3000.0, 360.0))
    assert found.left_m == 3000.0 and found.eta_at == now + timedelta(seconds=360)


def test_late_is_raised_from_the_live_eta(client, world, session):
    """An escort crawling with the appointment near is late by the live ETA, not by the plan."""
    world.trip.appointment_at = utcnow() - timedelta(minutes=10)
    world.trip.updated_at = utcnow()
    session.add(world.trip)
    session.commit()
    _send(client, world, [_along(f) for f in (0.0, 0.01, 0.02, 0.03)], utcnow() - timedelta(minutes=2))
    alerts = client.get(f"/api/v1/alerts?trip_id={world.trip.id}&open=1", headers=world.bearer("dan")).json
    (late,) = [a for a in alerts if a["kind"] == "late"]
    assert late["detail"]["left_m"] > ROUTE_M * 0.9


def test_the_escorts_own_view_carries_the_eta(client, world, session):
    _send(client, world, [_along(f) for f in (0.0, 0.1, 0.2)], utcnow() - timedelta(minutes=1))
    session.expire_all()
    mine = present.trip_for_escort(session, world.trip)
    assert mine["eta_to"] == "dropoff" and 0 < mine["left_m"] < ROUTE_M and mine["eta_at"].endswith("Z")


def test_a_dose_before_the_live_eta_is_listed_though_the_plan_ended_before_it(client, world, session):
    """The plan said arrival by the appointment; the escort runs late, so a later dose falls on the way."""
    now = utcnow()
    world.trip.appointment_at = now - timedelta(minutes=1)  # the plan's window is over
    world.trip.route_durations_s = [900.0] * (len(ROUTE) - 1)  # and the road ahead takes an hour
    world.trip.updated_at = now
    due = (now + timedelta(minutes=30)).isoformat()
    world.patient.medications = [{"name": "Levodopa", "dose": "100 mg", "every_hours": 4,
                                  "last_dose_at": (now + timedelta(minutes=30) - timedelta(hours=4)).isoformat()}]
    session.add_all([world.trip, world.patient])
    session.commit()
    got = _trip(client, world)
    assert _at(got["eta_at"]) > now + timedelta(minutes=45)
    assert [d["medication"] for d in got["doses_before_eta"]] == ["Levodopa"]
    assert abs((_at(got["doses_before_eta"][0]["due_at"]) - _at(due)).total_seconds()) < 1
    # Not under way: nothing listed (the planner's warnings cover the planned window).
    world.trip.status = "completed"
    session.add(world.trip)
    session.commit()
    assert _trip(client, world)["doses_before_eta"] == []
