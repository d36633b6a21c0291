"""Flagged places: a shared warning list that reaches the planner and the escort's tablet."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import select

from app.db import utcnow
from dispatch import flags
from dispatch.models import FlaggedPlace, TripEvent
from tests.factories import ROUTE, login


def _flag(client, world, **over):
    body = {"label": "12 Quillfeather Row", "category": "aggressive_resident",
            "reason": "Neighbour shouts at visitors; wait in the vehicle and call ahead.",
            "point": {"lat": ROUTE[0][0] + 0.0003, "lon": ROUTE[0][1], "radius_m": 20},
            "expires_at": (utcnow() + timedelta(days=30)).isoformat(), **over}
    return client.post("/api/v1/flagged-places", json=body, headers=world.bearer("dan"))


def _trip_body(world):
    now = utcnow()
    return {"patient_id": world.patient.id, "escort": "eve",
            "pickup": {"lat": ROUTE[0][0], "lon": ROUTE[0][1], "radius_m": 30},
            "dropoff": {"lat": ROUTE[-1][0], "lon": ROUTE[-1][1]},
            "scheduled_pickup_at": (now + timedelta(hours=1)).isoformat()}


def test_touches_is_geometry_in_metres():
    place = FlaggedPlace(id=1, label="x", category="other", reason="r", lat=51.5, lon=-0.12, radius_m=20,
                         ring=[], expires_at=utcnow(), created_at=utcnow(), updated_at=utcnow())
    north_50m = 51.5 + 50 / 111_195
    assert flags.touches(place, north_50m, -0.12, radius_m=31)
    assert not flags.touches(place, north_50m, -0.12, radius_m=29)
    square = FlaggedPlace(id=2, label="estate", category="unsafe_parking", reason="r",
                          ring=[[51.50, -0.13], [51.50, -0.12], [51.51, -0.12], [51.51, -0.13]],
                          expires_at=utcnow(), created_at=utcnow(), updated_at=utcnow())
    assert flags.touches(square, 51.505, -0.125, radius_m=1)
    assert not flags.touches(square, 51.505, -0.115, radius_m=100)
    assert flags.touches(square, 51.505, -0.115, radius_m=400), "the geofence reaches the polygon's edge"


def test_planning_warns_and_the_timeline_keeps_it(client, world, session):
    assert _flag(client, world).status_code == 201
    far = _flag(client, world, label="elsewhere", point={"lat": 51.0, "lon": -1.0, "radius_m": 50})
    assert far.status_code == 201
    resp = client.post("/api/v1/trips", json=_trip_body(world), headers=world.bearer("dan"))
    assert resp.status_code == 201, resp.json
    [warning] = [w for w in resp.json["warnings"] if w["kind"] == "flagged_place"]
    assert warning["where"] == "pickup" and warning["title"] == "Aggressive resident"
    assert "wait in the vehicle" in warning["reason"]
    [event] = session.exec(select(TripEvent).where(TripEvent.trip_id == resp.json["id"],
                                                   TripEvent.kind == "flag_warning")).all()
    assert event.detail["label"] == "12 Quillfeather Row"
    timeline = client.get(f"/api/v1/trips/{resp.json['id']}/timeline", headers=world.bearer("dan")).json["timeline"]
    assert any(i["text"].startswith("Flagged place at the pickup: Aggressive resident") for i in timeline)


def test_escort_tablet_shows_the_warning_before_arrival(client, world):
    _flag(client, world)
    trip = client.post("/api/v1/trips", json=_trip_body(world), headers=world.bearer("dan")).json
    world.trip.status = "completed"  # leave the new trip as eve's current one
    world.session.add(world.trip)
    world.session.commit()
    login(client, "eve")
    html = client.get("/escort").get_data(as_text=True)
    assert f'href="/patients/{trip["patient_id"]}"' in html
    assert "At the pickup: Aggressive resident" in html and "wait in the vehicle" in html


def test_expired_and_retired_flags_warn_no_more(client, world, session):
    made = _flag(client, world).json
    place = session.get(FlaggedPlace, made["id"])
    assert [p.id for p in flags.in_force(session, utcnow())] == [place.id]
    assert flags.in_force(session, utcnow() + timedelta(days=31)) == [], "expired"
    assert client.delete(f"/api/v1/flagged-places/{made['id']}", headers=world.bearer("dan")).status_code == 204
    assert client.get("/api/v1/flagged-places", headers=world.bearer("dan")).json == []
    assert client.delete(f"/api/v1/flagged-places/{made['id']}", headers=world.bearer("dan")).status_code == 404


@pytest.mark.parametrize(("over", "message"), [
    ({"expires_at": "2001-01-01T00:00:00Z"}, "expires_at must be in the future"),
    ({"expires_at": "2099-01-01T00:00:00Z"}, "at most three years"),
    ({"category": "grumpy"}, "category"),
    ({"point": None}, "give either point"),
    ({"polygon": {"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [0, 0]]]}}, "give either point"),
    ({"point": None, "polygon": {"type": "Polygon", "coordinates": [[[0, 0], [1, 1]]]}}, "at least 3"),
    ({"reason": ""}, "reason"),
])
def test_bad_flags_are_refused_clearly(client, world, session, over, message):
    resp = _flag(client, world, **over)
    assert resp.status_code == 400 and message in resp.json["error"], resp.json
    assert session.exec(select(FlaggedPlace)).all() == []


def test_only_dispatch_keeps_the_list(client, world):
    for name in ("eve", "cora"):
        assert client.get("/api/v1/flagged-places", headers=world.bearer(name)).status_code == 403
        assert _flag(client, world).status_code == 201
        resp = client.post("/api/v1/flagged-places", json={}, headers=world.bearer(name))
        assert resp.status_code == 403
