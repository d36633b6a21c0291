"""Build the app's geocoder from its configuration."""

from __future__ import annotations

from app.config import Config, ConfigError
from places.geocoding import Geocoder
from places.nominatim import NominatimGeocoder


def build_geocoder(config: Config) -> Geocoder | None:
    """Return the Nominatim-compatible service's geocoder when ``ESCORT_GEOCODER_URL`` is set, else None.

    The embedded address index (places built from the OpenStreetMap extract) answers when it
    is unset; that branch joins this function where it is built.
    """
    if config.geocoder_url:
        try:
            return NominatimGeocoder(config.geocoder_url)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
    return None
