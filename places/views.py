"""Addresses over REST: candidates for a typed address, words for a position."""

from __future__ import annotations

import math

from flask import Blueprint, current_app, jsonify, request

from app.api import ApiError
from app.auth import api_roles
from app.db import request_session, utcnow
from places.cache import as_coordinates, cached
from places.geocoding import Geocoder, GeocoderUnavailable, Place
from places.resolve import AddressError, as_json, resolve

api = Blueprint("places_api", __name__, url_prefix="/api/v1")
STAFF = ("admin", "dispatcher")
MAX_QUERY = 300
LIMIT = 5
# A deployment without a geocoder is configured so, not failing: a 400 that says how to go on.
NO_GEOCODER = "no geocoder is configured (ESCORT_GEOCODER_URL): give positions as lat and lon"


def geocoder() -> Geocoder:
    """Return the app's geocoder; ApiError 400 when none is configured."""
    found = current_app.extensions["escort"].geocoder
    if found is None:
        raise ApiError(NO_GEOCODER)
    return found


def unavailable(exc: GeocoderUnavailable) -> ApiError:
    """Return the 503 a geocoder that is down or absent answers, saying what to do meanwhile."""
    return ApiError(f"{exc}; place the pin by hand (lat and lon) meanwhile", 503)


def place_of(address: str, field: str) -> Place:
    """Return the one clear match of an address, or raise the ApiError to answer (400 with candidates, or 503).

    ``field`` names where the address was given (``pickup``, ``allowed_stops.1``) in the message.
    """
    try:
        return resolve(geocoder(), address)
    except AddressError as exc:
        raise ApiError(f"{field}: {exc}", 400, candidates=[as_json(c) for c in exc.candidates]) from None
    except GeocoderUnavailable as exc:
        raise unavailable(exc) from None


def located(place, field: str) -> dict:
    """Return a place's fields as lat and lon, its ``address`` (if given) geocoded to its clear match."""
    data = place.model_dump(exclude={"address"})
    if place.address is not None:
        found = place_of(place.address, field)
        data.update(lat=found.lat, lon=found.lon, address=found.label)
    return data


@api.get("/geocode")
@api_roles(*STAFF)
def geocode():
    """Return the candidates for an address, best first: ``[{"label", "lat", "lon"}]``."""
    q = " ".join(request.args.get("q", "").split())
    if not q:
        raise ApiError("q is required: the address to look up, e.g. ?q=Kaivokatu 1, Helsinki")
    if len(q) > MAX_QUERY:
        raise ApiError(f"q must be at most {MAX_QUERY} characters")
    found = geocoder()
    try:
        return jsonify([as_json(p) for p in found.search(q, limit=LIMIT)])
    except GeocoderUnavailable as exc:
        raise unavailable(exc) from None


def _coordinate(name: str, limit: float) -> float:
    """Return a query parameter as a coordinate within ±limit degrees, or raise a 400."""
    raw = request.args.get(name, "")
    try:
        value = float(raw)
    except ValueError:
        raise ApiError(f"{name} is required: a number of degrees from -{limit:g} to {limit:g}") from None
    if not math.isfinite(value) or abs(value) > limit:
        raise ApiError(f"{name} must be a number of degrees from -{limit:g} to {limit:g}")
    return value


@api.get("/reverse")
@api_roles(*STAFF)
def reverse():
    """Return the nearest address of a position: ``{"label", "found"}``.

    ``found`` is false when no address is known there: ``label`` is then the coordinates, and a
    page says "no address known here" rather than show them as if they were an address.
    """
    lat, lon = _coordinate("lat", 90), _coordinate("lon", 180)
    found = geocoder()
    session = request_session()
    try:
        row = cached(session, found, lat, lon, now=utcnow())
    except GeocoderUnavailable as exc:
        raise unavailable(exc) from None
    session.commit()
    return jsonify({"label": row.label or as_coordinates(lat, lon), "found": row.label is not None})
