"""Reverse geocoding through the database cache: each spot (rounded to about 10 m) is asked once."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from places.geocoding import Geocoder, GeocoderUnavailable
from places.models import PlaceCache

log = logging.getLogger(__name__)
# A save that looks up words stops asking after this long (a slow geocoder paced at one question
# a second must not hold a dispatcher's save for half a minute); the rest are saved by position.
ASK_BUDGET_S = 5.0


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
        row = _answer(geocoder, lat_e4, lon_e4, now)
        _keep(session, row)
    return row


def _answer(geocoder: Geocoder, lat_e4: int, lon_e4: int, now: datetime) -> PlaceCache:
    """Ask the geocoder for a spot's words; return the cache row to keep (``GeocoderUnavailable`` passes)."""
    found = geocoder.reverse(lat_e4 / 1e4, lon_e4 / 1e4)
    return PlaceCache(lat_e4=lat_e4, lon_e4=lon_e4, label=found.label[:300] if found else None, fetched_at=now)


def _keep(session: Session, row: PlaceCache) -> None:
    """Add a spot's answer to the cache (another process may cache the same spot at once: theirs stands)."""
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:
        pass


@dataclass
class Words:
    """The nearest addresses of some positions, in their order."""

    labels: list[str | None] = field(default_factory=list)  # None: no address known there, or not looked up
    unasked: list[int] = field(default_factory=list)  # the positions not looked up (not cached, geocoder not asked)
    error: str | None = None  # why they were not: the geocoder's failure, or the limit of questions


def words_at(session: Session, geocoder: Geocoder | None, points: list[tuple[float, float]], *, now: datetime,
             ask_limit: int, budget_s: float = ASK_BUDGET_S) -> Words:
    """Return the nearest address of each position: from the cache, else from the geocoder.

    The geocoder is asked at most ``ask_limit`` times, no new question once ``budget_s`` has
    passed, and none again once it fails (whatever the fault: a save never fails for want of
    words); every question is asked before any answer is written, so no write waits on the geocoder.
    """
    words, fresh, asked = Words(), {}, 0
    deadline = time.monotonic() + budget_s

    def not_looked_up(i: int, why: str | None) -> None:
        words.labels.append(None)
        words.unasked.append(i)
        words.error = words.error or why

    for i, (lat, lon) in enumerate(points):
        key = spot(lat, lon)
        row = fresh.get(key) or session.get(PlaceCache, key)
        if row is None:
            if geocoder is None:
                not_looked_up(i, "no geocoder is configured (ESCORT_GEOCODER_URL)")
                continue
            if words.error is not None or asked >= ask_limit or time.monotonic() > deadline:
                not_looked_up(i, f"at most {ask_limit} addresses are looked up at once" if asked >= ask_limit
                              else f"the address lookup took longer than {budget_s:g} s")
                continue
            asked += 1
            try:
                row = fresh[key] = _answer(geocoder, *key, now)
            except GeocoderUnavailable as exc:
                not_looked_up(i, str(exc))
                continue
            except Exception:  # noqa: BLE001  (a fault of the geocoder itself: the place is saved by position)
                log.exception("reverse geocoding failed at %s", key)
                not_looked_up(i, "the address lookup failed")
                continue
        words.labels.append(row.label)
    for row in fresh.values():
        _keep(session, row)
    return words


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
