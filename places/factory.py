"""Choose the geocoder and the router from the configuration: a server when a URL is set, else embedded."""

from __future__ import annotations

from pathlib import Path

from places.embedded import EmbeddedGeocoder, EmbeddedRouter
from places.geocoding import Geocoder
from places.routing import HttpRouter, Router


def _cache_dir(config) -> Path:
    """Return where the embedded engine keeps its built graph and index."""
    return Path(config.instance_path) / "places"


def build_geocoder(config) -> Geocoder:
    """Return the geocoder the configuration names (unset ``geocoder_url``: the embedded index)."""
    return EmbeddedGeocoder(None, _cache_dir(config))


def build_router(config) -> Router:
    """Return the router the configuration names (unset ``router_url``: the embedded router)."""
    if config.router_url:
        return HttpRouter(config.router_url)
    return EmbeddedRouter(None, _cache_dir(config))
