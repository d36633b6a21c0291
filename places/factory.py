"""Choose the geocoder and the router from the configuration: a server when a URL is set, else embedded."""

from __future__ import annotations

from pathlib import Path

from app.config import Config, ConfigError
from places.embedded import EmbeddedGeocoder, EmbeddedRouter
from places.geocoding import Geocoder
from places.nominatim import NominatimGeocoder
from places.routing import HttpRouter, Router


def _cache_dir(config: Config) -> Path:
    """Return where the embedded engine keeps its built graph and index."""
    return Path(config.instance_path) / "places"


def build_geocoder(config: Config) -> Geocoder:
    """Return the geocoder the configuration names: a Nominatim-compatible service, else the embedded index."""
    if config.geocoder_url:
        try:
            return NominatimGeocoder(config.geocoder_url)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
    return EmbeddedGeocoder(None, _cache_dir(config))


def build_router(config: Config, *, timeout_s: int | None = None) -> Router:
    """Return the router the configuration names (unset ``router_url``: the embedded router).

    ``timeout_s`` shortens a routing server's time-out (the pickup legs' router); the embedded
    router answers in process and has none.
    """
    if config.router_url:
        return HttpRouter(config.router_url, timeout_s=timeout_s) if timeout_s else HttpRouter(config.router_url)
    return EmbeddedRouter(None, _cache_dir(config))
