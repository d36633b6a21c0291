"""A trip planned by address keeps the places in words: the API answers them, the escort's tablet
shows them, a copy keeps them, and coordinates typed by hand get the words of their own spot, found
when the trip is saved (by coordinates, saying so, when the geocoder does not answer)."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from html import unescape

from app.db import utcnow
from dispatch import trip_places
from places.nominatim import NominatimGeocoder
from tests.factories import login
from tests.live import free_port

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
    # Coordinates by hand: the old words would mislead; the new spot's words are found at save time.
    assert moved.get_json()["pickup"]["address"] == _words(client, dan, 60.17, 24.95) != trip["pickup"]["address"]
    assert moved.get_json()["dropoff"]["address"] == trip["dropoff"]["address"]


def _words(client, headers, lat: float, lon: float) -> str | None:
    """Return what the reverse lookup says of a position: its words, or None when no address is known."""
    answer = client.get("/api/v1/reverse", query_string={"lat": lat, "lon": lon}, headers=headers).get_json()
    return answer["label"] if answer["found"] else None


def _down(app) -> None:
    """Point the app at a geocoder where nothing listens."""
    app.extensions["escort"].geocoder = NominatimGeocoder(f"http://127.0.0.1:{free_port()}", timeout_s=2)


def test_a_trip_placed_by_coordinates_gets_the_words_of_its_places(app, world, client, session):
    dan = world.bearer("dan")
    body = {"patient_id": world.patient.id, "escort": "emil", "pickup": {"lat": 60.17, "lon": 24.95},
            "dropoff": {"lat": 60.165, "lon": 24.94}, "allowed_stops": [{"lat": 60.1675, "lon": 24.945}],
            "scheduled_pickup_at": (utcnow() + timedelta(hours=1)).isoformat()}
    resp = client.post("/api/v1/trips", json=body, headers=dan)
    assert resp.status_code == 201, resp.get_json()
    trip = resp.get_json()
    assert "geocoding" not in trip  # every place was looked up
    assert trip["pickup"]["address"] == _words(client, dan, 60.17, 24.95) and "Helsinki" in trip["pickup"]["address"]
    assert trip["dropoff"]["address"] == _words(client, dan, 60.165, 24.94) and "Helsinki" in trip["dropoff"]["address"]
    assert trip["allowed_stops"][0]["address"] == _words(client, dan, 60.1675, 24.945)
    assert trip["places"] == f"From {trip['pickup']['address']} to {trip['dropoff']['address']}"

    # Where no address is known, the place keeps none: it reads as its coordinates.
    place = {"lat": -45.0, "lon": -140.0}
    named = trip_places.name_places(session, app.extensions["escort"].geocoder, {"dropoff": place}, now=utcnow())
    assert "address" not in place and named.missing == [] and named.public() is None


def test_the_geocoder_down_the_trip_is_saved_by_coordinates_and_says_so(app, world, client):
    dan = world.bearer("dan")
    known = _words(client, dan, 60.17, 24.95)  # asked while the geocoder answers: in the cache now
    _down(app)
    body = {"patient_id": world.patient.id, "pickup": {"lat": 60.17, "lon": 24.95},
            "dropoff": {"lat": 60.165, "lon": 24.94}, "allowed_stops": [{"lat": 60.1675, "lon": 24.945}],
            "scheduled_pickup_at": (utcnow() + timedelta(hours=1)).isoformat()}
    resp = client.post("/api/v1/trips", json=body, headers=dan)
    assert resp.status_code == 201, resp.get_json()
    trip = resp.get_json()
    assert trip["pickup"]["address"] == known  # from the cache
    assert trip["dropoff"]["address"] is None and "address" not in trip["allowed_stops"][0]
    said = trip["geocoding"]
    assert said["looked_up"] is False and said["without_words"] == ["dropoff", "allowed_stops.0"]
    assert "did not answer" in said["error"] and said["error"].endswith("the drop-off and stop 1 saved by coordinates")


def test_at_most_a_few_addresses_are_asked_per_save(app, world, client):
    stops = [{"lat": 60.1660 + i * 0.001, "lon": 24.9400} for i in range(trip_places.ASK_AT_SAVE)]
    body = {"patient_id": world.patient.id, "pickup": {"lat": 60.17, "lon": 24.95},
            "dropoff": {"lat": 60.165, "lon": 24.94}, "allowed_stops": stops,
            "scheduled_pickup_at": (utcnow() + timedelta(hours=1)).isoformat()}
    resp = client.post("/api/v1/trips", json=body, headers=world.bearer("dan"))
    assert resp.status_code == 201, resp.get_json()
    trip = resp.get_json()
    asked = [trip["pickup"], trip["dropoff"], *trip["allowed_stops"]][:trip_places.ASK_AT_SAVE]
    assert all(place.get("address") for place in asked)
    left = [f"allowed_stops.{i}" for i in range(trip_places.ASK_AT_SAVE - 2, trip_places.ASK_AT_SAVE)]
    assert trip["geocoding"]["without_words"] == left
    assert f"at most {trip_places.ASK_AT_SAVE} addresses" in trip["geocoding"]["error"]


def test_the_edit_form_sent_before_a_moved_pins_words_came_keeps_them(app, world, client):
    made = client.post("/api/v1/trips", headers=world.bearer("dan"), json={
        "patient_id": world.patient.id, "escort": "emil", "pickup": {"address": PICKUP}, "dropoff": {"address": DROPOFF},
        "scheduled_pickup_at": (utcnow() + timedelta(hours=1)).isoformat()}).get_json()
    web = login(app.test_client(), "dan")
    html = web.get(f"/dispatch/trips/{made['id']}/edit").get_data(as_text=True)
    current = dict(re.findall(r'name="([a-z_]+)" type="[a-z-]+" value="([^"]*)"', html))
    current.update(re.findall(r'type="hidden" id="[^"]+" name="([a-z_]+)" value="([^"]*)"', html))
    current = {name: unescape(value) for name, value in current.items()}
    assert current["dropoff_address"] == made["dropoff"]["address"]
    token = re.search(r'name="csrf-token" content="([^"]+)"', html).group(1)
    # The drop-off pin moved: the page emptied its words and had not yet had the new ones.
    sent = web.post(f"/dispatch/trips/{made['id']}/edit", data={
        **current, "patient": f"Pat Example (#{world.patient.id})", "dropoff_lat": "60.17", "dropoff_lon": "24.95",
        "dropoff_address": "", "csrf_token": token})
    assert sent.status_code == 302, sent.get_data(as_text=True)[:2000]
    trip = client.get(f"/api/v1/trips/{made['id']}", headers=world.bearer("dan")).get_json()
    assert trip["dropoff"]["address"] == _words(client, world.bearer("dan"), 60.17, 24.95) != made["dropoff"]["address"]
    assert trip["pickup"]["address"] == made["pickup"]["address"]  # not moved: not asked again
