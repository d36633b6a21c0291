"""Reverse geocoding through the database cache: each spot (rounded to about 10 m) is asked once."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from places.geocoding import Geocoder
from places.models import PlaceCache


def spot(lat: float, lon: float) -> tuple[int, int]:
    """Return the cache key of a position: its degrees times 1e4, rounded (about 11 m of latitude)."""
    return round(lat * 1e4), round(lon * 1e4)


def as_coordinates(lat: float, lon: float) -> str:
    """Return a position in words when no address is known: its coordinates, to about a metre."""
    return f"{lat:.5f}, {lon:.5f}"


def cached(session: Session, geocoder: Geocoder, lat: float, lon: float, *, now: datetime,
           ask: bool = True) -> PlaceCache | None:
    """Return the cache row of a position's spot (its ``label`` None when no address is known there).

    Asks the geocoder for a spot not cached (``GeocoderUnavailable`` when it does not answer);
    returns None for a spot not cached when ``ask`` is false (the geocoder is known to be down).
    """
    lat_e4, lon_e4 = spot(lat, lon)
    row = session.get(PlaceCache, (lat_e4, lon_e4))
    if row is None:
        if not ask:
            return None
        found = geocoder.reverse(lat_e4 / 1e4, lon_e4 / 1e4)
        row = PlaceCache(lat_e4=lat_e4, lon_e4=lon_e4, label=found.label[:300] if found else None, fetched_at=now)
        try:
            with session.begin_nested():  # another process may cache the same spot at once
                session.add(row)
        except IntegrityError:
            pass
    return row


def words_for(session: Session, geocoder: Geocoder, lat: float, lon: float, *, now: datetime,
              ask: bool = True) -> str | None:
    """Return the nearest address of a position (cached), or its coordinates when nothing is known there.

    Raises ``GeocoderUnavailable`` when the spot is not cached and the geocoder does not answer;
    returns None for a spot not cached when ``ask`` is false (the geocoder is known to be down).
    """
    row = cached(session, geocoder, lat, lon, now=now, ask=ask)
    if row is None:
        return None
    return row.label or as_coordinates(lat, lon)
