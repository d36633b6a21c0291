"""Choosing one place for an address, and pacing requests: pure, no service."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from places.geocoding import GeocoderUnavailable, Place
from places.nominatim import _Pace, split_url
from places.resolve import AddressError, clear_match, resolve

KAIVOKATU = Place("Kaivokatu 1, Helsinki", 60.1699, 24.9414)


def test_one_candidate_is_the_match():
    assert clear_match("Kaivokatu 1", [KAIVOKATU]) == KAIVOKATU


def test_candidates_on_one_spot_are_one_place():
    building = Place("Kaivokatu 1 (building)", 60.16995, 24.94150)  # about 10 m away
    assert clear_match("Kaivokatu 1", [KAIVOKATU, building]) == KAIVOKATU


def test_candidates_far_apart_are_ambiguous_and_listed_best_first():
    far = Place("Kaivokatu, Espoo", 60.2055, 24.6559)
    with pytest.raises(AddressError, match="matches 2 places") as caught:
        clear_match("Kaivokatu", [KAIVOKATU, far])
    assert caught.value.candidates == [KAIVOKATU, far]


def test_nothing_found_says_so():
    with pytest.raises(AddressError, match="no place found"):
        clear_match("Nowhere Street 99", [])


def test_no_geocoder_is_unavailable_with_the_way_out():
    with pytest.raises(GeocoderUnavailable, match="give lat and lon"):
        resolve(None, "Kaivokatu 1")


@given(st.floats(0, 2))
def test_pace_never_lets_two_calls_closer_than_the_interval(gap_s):
    now = [100.0]
    slept = []

    def sleep(s):
        slept.append(s)
        now[0] += s

    pace = _Pace(1.0, clock=lambda: now[0], sleep=sleep)
    pace.wait()
    first = now[0]
    now[0] += gap_s
    pace.wait()
    assert now[0] - first >= 1.0 - 1e-9
    assert (slept != []) == (gap_s < 1.0)


def test_service_urls_become_scheme_and_domain():
    assert split_url("http://127.0.0.1:8089") == ("http", "127.0.0.1:8089")
    assert split_url("https://geo.example.org/nominatim/") == ("https", "geo.example.org/nominatim")
    assert split_url("nominatim.openstreetmap.org") == ("https", "nominatim.openstreetmap.org")
    with pytest.raises(ValueError, match="ESCORT_GEOCODER_URL"):
        split_url("ftp://example.org")


def test_without_a_geocoder_addresses_are_refused_with_the_way_out(app, client, world):
    """A deployment with no geocoder configured: a clear 400, never a 5xx."""
    app.extensions["escort"].geocoder = None
    resp = client.get("/api/v1/geocode?q=Kaivokatu", headers=world.bearer("dan"))
    assert resp.status_code == 400 and "ESCORT_GEOCODER_URL" in resp.json["error"]
    trip = {"patient_id": world.patient.id, "pickup": {"address": "Kaivokatu 1"}, "dropoff": {"lat": 51.5, "lon": 0},
            "scheduled_pickup_at": "2026-12-01T10:00:00Z"}
    made = client.post("/api/v1/trips", json=trip, headers=world.bearer("dan"))
    assert made.status_code == 400 and "lat and lon" in made.json["error"]
