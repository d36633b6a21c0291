"""The demo's promise: one deviation and one unexpected stop within about two minutes, nothing else."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import select

from app import demo_data
from app.db import utcnow
from app.demo import plan_trips, seed
from dispatch.models import Alert, Trip
from dispatch import ingest
from places.embedded import EmbeddedGeocoder, EmbeddedRouter
from tracking.geo import Route, haversine_m
from tracking.models import Device


def test_demo_scenarios_raise_one_deviation_and_one_stop_in_two_minutes(app, session, tmp_path):
    start = utcnow() - timedelta(hours=1)
    pairs = seed(session, now=start, places_dir=tmp_path)
    from app.auth import hash_token
    from tracking.simulator import generate

    for index, (token, scenario) in enumerate(pairs):
        device = session.exec(select(Device).where(Device.token_hash == hash_token(token))).one()
        fixes = generate(scenario, start, seed=index + 1)
        for fix in fixes:  # one at a time, as the simulator streams them
            ingest.accept(session, device, [fix], now=fix.ts + timedelta(seconds=1))
    trips = {t.id: t for t in session.exec(select(Trip)).all()}
    raised = sorted((trips[a.trip_id].escort_user_id, a.kind, (a.raised_at - start).total_seconds())
                    for a in session.exec(select(Alert)).all())
    kinds = [(k, s) for _, k, s in raised]
    assert [k for k, _ in kinds] == ["deviation", "stop"], raised
    assert all(seconds <= 130 for _, seconds in kinds), raised


def test_demo_seed_twice_starts_a_clean_show(app, session, tmp_path):
    seed(session, now=utcnow(), places_dir=tmp_path)
    seed(session, now=utcnow(), places_dir=tmp_path)
    live = session.exec(select(Trip).where(Trip.status == "on_board")).all()
    assert len(live) == 3
    assert all(t.route_source == "router:embedded" and t.route_duration_s > 0 and len(t.route) >= 50 for t in live)
    assert len(session.exec(select(Trip).where(Trip.status == "cancelled")).all()) == 3


@pytest.fixture(scope="module")
def planned(tmp_path_factory):
    """Return the demo's trips as geocoded and routed by the embedded engine."""
    places_dir = tmp_path_factory.mktemp("places")
    return {t["escort"]: t for t in plan_trips(EmbeddedGeocoder(None, places_dir), EmbeddedRouter(None, places_dir))}


@pytest.mark.parametrize("escort", ["alice", "bob", "carol"])
def test_demo_trips_are_typed_addresses_routed_on_real_streets(planned, escort):
    trip = planned[escort]
    assert trip["pickup"].label.startswith(escort_address(escort, "pickup"))
    route = Route(list(trip["route"].points))
    assert 1500 <= route.length_m <= 5000 and len(trip["route"].points) >= 50
    assert route.length_m == pytest.approx(trip["route"].distance_m, rel=0.02)
    assert haversine_m(trip["pickup"].lat, trip["pickup"].lon, *trip["route"].points[0]) < 100
    assert haversine_m(trip["dropoff"].lat, trip["dropoff"].lon, *trip["route"].points[-1]) < 100
    assert trip["scenario"].route == tuple(trip["route"].points)


def escort_address(escort: str, end: str) -> str:
    """Return the street and number the demo typed for an escort's trip end."""
    typed = next(t[end] for t in demo_data.TRIPS if t["escort"] == escort)
    return typed.split(",")[0]
