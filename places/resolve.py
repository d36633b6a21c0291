"""Turn a typed address into one position: the clear match, or the candidates to choose from."""

from __future__ import annotations

from geopy.distance import great_circle

from places.geocoding import Geocoder, GeocoderUnavailable, Place

SAME_PLACE_M = 150.0  # candidates this close to the best one are one place (the shops of one address, its building)
CANDIDATES = 5


class AddressError(ValueError):
    """An address that gives no single position; ``candidates`` (best first) are what it could mean."""

    def __init__(self, message: str, candidates: list[Place] | None = None) -> None:
        super().__init__(message)
        self.candidates = candidates or []


def clear_match(address: str, candidates: list[Place], *, same_place_m: float = SAME_PLACE_M) -> Place:
    """Return the one place the candidates agree on; AddressError when none, or when they differ."""
    if not candidates:
        raise AddressError(f"no place found for the address {address!r}: check the spelling, or give lat and lon")
    best = candidates[0]
    if all(great_circle((best.lat, best.lon), (c.lat, c.lon)).meters <= same_place_m for c in candidates[1:]):
        return best
    raise AddressError(f"the address {address!r} matches {len(candidates)} places: choose one of the candidates "
                       f"and send its lat and lon", candidates)


def resolve(geocoder: Geocoder | None, address: str) -> Place:
    """Geocode an address to its one clear match; AddressError when ambiguous or unknown.

    Raises ``GeocoderUnavailable`` when no geocoder is configured or it does not answer.
    """
    if geocoder is None:
        raise GeocoderUnavailable("no geocoder is configured (set ESCORT_GEOCODER_URL): give lat and lon instead")
    address = " ".join(address.split())
    if not address:
        raise AddressError("the address is empty")
    return clear_match(address, geocoder.search(address, limit=CANDIDATES))


def as_json(place: Place) -> dict:
    """Return a place as the API answers it."""
    return {"label": place.label, "lat": place.lat, "lon": place.lon}
