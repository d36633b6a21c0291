"""A trip planned by address keeps the places in words: the API answers them, the escort's tablet
shows them, a copy keeps them, and coordinates typed by hand drop them (they no longer match)."""

from __future__ import annotations

import json
import re
from datetime import timedelta

from app.db import utcnow
from tests.factories import login

PICKUP, DROPOFF = "Siltasaarenkatu 12, Helsinki", "Bulevardi 15, Helsinki"


def _page_data(html: str) -> dict:
    """Return the JSON a page hands its script."""
    return json.loads(re.search(r'id="page-data">(.*?)</script>', html, re.S).group(1))


def test_a_trip_planned_by_address_keeps_the_words_for_the_escort(app, world, client):
    dan = world.bearer("dan")
    body = {"patient_id": world.patient.id, "escort": "emil", "pickup": {"address": PICKUP},
            "dropoff": {"address": DROPOFF}, "scheduled_pickup_at": (utcnow() + timedelta(hours=1)).isoformat()}
    resp = client.post("/api/v1/trips", json=body, headers=dan)
    assert resp.status_code == 201, resp.get_json()
    trip = resp.get_json()
    assert "Siltasaarenkatu" in trip["pickup"]["address"] and "Bulevardi" in trip["dropoff"]["address"]
    assert 60.15 < trip["pickup"]["lat"] < 60.2 and trip["routing"]["computed"] is True  # found, and routed

    tablet = _page_data(login(app.test_client(), "emil").get("/escort").get_data(as_text=True))
    assert tablet["trip"]["id"] == trip["id"]
    assert tablet["trip"]["pickup"]["address"] == trip["pickup"]["address"]  # the next stop, in words

    copy = client.post(f"/api/v1/trips/{trip['id']}/duplicate", json={}, headers=dan)
    assert copy.status_code == 201, copy.get_json()
    assert copy.get_json()["pickup"]["address"] == trip["pickup"]["address"]

    moved = client.patch(f"/api/v1/trips/{trip['id']}", json={"pickup": {"lat": 60.17, "lon": 24.95}}, headers=dan)
    assert moved.status_code == 200, moved.get_json()
    assert moved.get_json()["pickup"]["address"] is None  # coordinates by hand: the old words would mislead
    assert moved.get_json()["dropoff"]["address"] == trip["dropoff"]["address"]


def test_a_trip_placed_by_coordinates_has_no_words(app, world, client):
    body = {"patient_id": world.patient.id, "escort": "emil", "pickup": {"lat": 60.17, "lon": 24.95},
            "dropoff": {"lat": 60.165, "lon": 24.94}, "scheduled_pickup_at": (utcnow() + timedelta(hours=1)).isoformat()}
    resp = client.post("/api/v1/trips", json=body, headers=world.bearer("dan"))
    assert resp.status_code == 201, resp.get_json()
    assert resp.get_json()["pickup"]["address"] is None and resp.get_json()["dropoff"]["address"] is None
