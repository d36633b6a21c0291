"""The embedded address index: street + number (+ city), forgiving of case, diacritics and a typo."""

from __future__ import annotations

import pytest

from places.embedded import EmbeddedGeocoder
from places.factory import build_geocoder, build_router
from places.embedded import EmbeddedRouter
from places.routing import HttpRouter
from tests.conftest import make_config


@pytest.fixture(scope="module")
def geocoder(tmp_path_factory):
    """Return an embedded geocoder with its cache in a folder of its own."""
    return EmbeddedGeocoder(None, tmp_path_factory.mktemp("places"))


@pytest.mark.parametrize("query", ["Lönnrotinkatu 7, Helsinki", "lonnrotinkatu 7", "LÖNNROTINKATU 7",
                                   "Lonrotinkatu 7", "Lönnrotinkatu 7, 00100 Helsinki"])
def test_an_address_is_found_however_it_is_typed(geocoder, query):
    best = geocoder.search(query)[0]
    assert best.label == "Lönnrotinkatu 7, 00100 Helsinki"
    assert best.lat == pytest.approx(60.16641, abs=1e-4) and best.lon == pytest.approx(24.93819, abs=1e-4)


def test_a_house_number_with_a_letter(geocoder):
    labels = [p.label for p in geocoder.search("Mannerheimintie 20 b")]
    assert labels and all("Mannerheimintie 20 B" in label for label in labels)


def test_a_number_in_a_range_finds_the_building(geocoder):
    assert geocoder.search("Uudenmaankatu 19")[0].label.startswith("Uudenmaankatu 19-21")


def test_a_street_named_exactly_is_not_mixed_with_its_look_alikes(geocoder):
    labels = [p.label for p in geocoder.search("Pieni Roobertinkatu 9")]
    assert labels and all("Pieni Roobertinkatu" in label for label in labels)


def test_the_plain_address_comes_before_the_shops_that_share_it(geocoder):
    assert geocoder.search("Aleksanterinkatu 52")[0].label == "Aleksanterinkatu 52, 00100 Helsinki"


@pytest.mark.parametrize("query", ["Kaivokatu 1, Turku", "Nowhere Street 1", "", "   ", "12345"])
def test_unknown_places_give_no_candidates(geocoder, query):
    assert geocoder.search(query) == []


def test_reverse_gives_the_nearest_address_within_100_m(geocoder):
    assert geocoder.reverse(60.16642, 24.93820).label == "Lönnrotinkatu 7, 00100 Helsinki"
    assert geocoder.reverse(51.5007, -0.1246) is None  # London: nothing of the extract near


def test_the_limit_is_kept(geocoder):
    assert len(geocoder.search("Mannerheimintie", limit=3)) == 3


def test_the_factory_gives_the_embedded_engines_unless_a_router_url_is_set(tmp_path):
    assert isinstance(build_geocoder(make_config(tmp_path)), EmbeddedGeocoder)
    assert isinstance(build_router(make_config(tmp_path)), EmbeddedRouter)
    assert isinstance(build_router(make_config(tmp_path, router_url="valhalla+https://valhalla.example")),
                      HttpRouter)
