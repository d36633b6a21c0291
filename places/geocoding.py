"""What the app asks of a geocoder: candidates for an address, words for a position.

Two implementations stand behind this interface: the embedded address index built from an
OpenStreetMap extract (no server, no internet) and a Nominatim-compatible service through
geopy (``ESCORT_GEOCODER_URL``). Callers hold a ``Geocoder`` and never know which.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Place:
    """A place a person can read: its label (an address in words) and its WGS84 position."""

    label: str
    lat: float
    lon: float


class GeocoderUnavailable(RuntimeError):
    """The geocoding service did not answer (down, slow or refusing); the message says which."""


class Geocoder(Protocol):
    """Forward and reverse geocoding."""

    def search(self, query: str, *, limit: int = 5) -> list[Place]:
        """Return the candidates for an address, best first (empty when nothing matches)."""
        ...

    def reverse(self, lat: float, lon: float) -> Place | None:
        """Return the nearest known address of a position, or None when nothing is near."""
        ...
