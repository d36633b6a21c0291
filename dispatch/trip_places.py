"""A trip's places in words at save time: a place saved without its address gets the nearest one.

The trip form asks the server for the words of a pin it moved; a form sent before the answer
came, or a REST client giving only lat and lon, would store the place as bare coordinates.
Here each place without words gets them from the cache or the geocoder before the trip is
written (never on the ingest path). When the geocoder does not answer, the trip is saved with
its coordinates and the answer says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session

from dispatch.trips import address_words
from places.cache import words_at
from places.geocoding import Geocoder

ASK_AT_SAVE = 4  # geocoder questions per save at most (Nominatim's policy: one a second); the rest: cache only


@dataclass
class Named:
    """Which places were left without words because they could not be looked up, and why."""

    missing: list[str]  # their fields: "pickup", "dropoff", "allowed_stops.0", …
    error: str | None

    def public(self) -> dict | None:
        """Return what the REST answer says of it (None when every place has its words or none is known)."""
        if not self.missing:
            return None
        return {"looked_up": False, "without_words": self.missing,
                "error": f"{self.error}; {_listed(self.missing)} saved by coordinates"}

    def words(self) -> str | None:
        """Return what the trip form's page says of it, or None."""
        if not self.missing:
            return None
        return (f"The address lookup did not answer ({self.error}): {_listed(self.missing)} "
                f"{'is' if len(self.missing) == 1 else 'are'} saved by coordinates.")


def _listed(fields: list[str]) -> str:
    """Return place fields in the dispatcher's words: "the pickup and stop 2"."""
    names = ["the pickup" if f == "pickup" else "the drop-off" if f == "dropoff"
             else f"stop {int(f.rsplit('.', 1)[1]) + 1}" for f in fields]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def places_of(pickup: dict | None, dropoff: dict | None, allowed_stops: list[dict] | None) -> dict[str, dict]:
    """Return a trip's places by field (those given: an edit may change only some)."""
    found = {"pickup": pickup, "dropoff": dropoff}
    found.update({f"allowed_stops.{i}": stop for i, stop in enumerate(allowed_stops or [])})
    return {name: place for name, place in found.items() if place is not None}


def name_places(session: Session, geocoder: Geocoder | None, places: dict[str, dict], *, now: datetime) -> Named:
    """Give each place without words (``address``) the nearest address known; say which could not be looked up.

    The places are changed in place. A place where no address is known keeps none (it reads as
    its coordinates, as before).
    """
    wanted = [(name, place) for name, place in places.items() if not address_words(place)]
    if not wanted:
        return Named([], None)
    found = words_at(session, geocoder, [(p["lat"], p["lon"]) for _, p in wanted], now=now, ask_limit=ASK_AT_SAVE)
    for (_name, place), label in zip(wanted, found.labels):
        if label:
            place["address"] = label
    return Named([wanted[i][0] for i in found.unasked], found.error)
