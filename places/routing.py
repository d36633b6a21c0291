"""What the app asks of a router: a road route through waypoints, from the embedded engine or a server.

``ESCORT_ROUTER_URL`` names a server by a scheme prefix: ``osrm+http://host:5000``,
``valhalla+https://host``, ``graphhopper+https://graphhopper.com/api/1?key=KEY``; a plain
``http(s)://`` URL is taken as OSRM. Unset, the embedded router is used.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Protocol
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import routingpy
from routingpy import exceptions as rp_errors

ROUTER_TIMEOUT_S = 10
USER_AGENT = "escort-dispatch (medical escort transport tracking)"
ENGINES = {"osrm": routingpy.OSRM, "valhalla": routingpy.Valhalla, "graphhopper": routingpy.Graphhopper}
# The car profile of each engine, as its API names it.
CAR_PROFILE = {"osrm": "driving", "valhalla": "auto", "graphhopper": "car"}


class RouterUnavailable(RuntimeError):
    """No route could be had (server down, slow or refusing, or no road joins the places); says which."""


class NoRoadRoute(RouterUnavailable):
    """The router answered, and no road joins the places (off its map, or cut off)."""


@dataclass(frozen=True)
class Route:
    """A road route: points (lat, lon), its length and time, and each segment's time when known."""

    points: list[tuple[float, float]]
    distance_m: float
    duration_s: float
    segment_durations_s: list[float] | None = field(default=None)


class Router(Protocol):
    """A road router for a car."""

    name: str

    def route(self, waypoints: list[tuple[float, float]]) -> Route:
        """Return the route through the waypoints (lat, lon) in order; RouterUnavailable when none."""
        ...


def parse_router_url(url: str) -> tuple[str, str, str | None]:
    """Return (engine, base URL, API key) of an ``ESCORT_ROUTER_URL``; ValueError with the reason."""
    parts = urlsplit(url)
    engine, _, scheme = parts.scheme.partition("+")
    if not scheme:
        engine, scheme = "osrm", engine
    if engine not in ENGINES or scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"ESCORT_ROUTER_URL {url!r}: expected osrm+http(s)://, valhalla+http(s):// "
                         "or graphhopper+http(s):// and a host")
    query = dict(parse_qsl(parts.query))
    key = query.pop("key", None)
    base = urlunsplit((scheme, parts.netloc, parts.path.rstrip("/"), urlencode(query), ""))
    return engine, base, key


class HttpRouter:
    """A routing server (OSRM, Valhalla, GraphHopper) through routingpy."""

    def __init__(self, url: str, *, timeout_s: int = ROUTER_TIMEOUT_S) -> None:
        self.name, base, key = parse_router_url(url)
        kwargs = {"api_key": key} if self.name == "graphhopper" else {}
        # retry_timeout bounds routingpy's own retries of 5xx and 429 answers to our time-out.
        self.client = ENGINES[self.name](base_url=base, user_agent=USER_AGENT, timeout=timeout_s,
                                         retry_timeout=timeout_s, **kwargs)
        self.base = base

    def route(self, waypoints: list[tuple[float, float]]) -> Route:
        """Return the server's car route through the waypoints (lat, lon)."""
        locations = [[float(lon), float(lat)] for lat, lon in waypoints]
        try:
            with warnings.catch_warnings():  # routingpy warns on each retry; the outcome is what we report
                warnings.simplefilter("ignore", UserWarning)
                found = self.client.directions(locations=locations, **self._options())
        except rp_errors.RouterApiError as exc:  # 4xx: the server refused these places
            raise NoRoadRoute(f"{self.name} router at {self.base}: {_reason(exc)}") from None
        except (rp_errors.RouterError, rp_errors.Timeout, rp_errors.RetriableRequest, rp_errors.JSONParseError,
                OSError) as exc:
            raise RouterUnavailable(f"{self.name} router at {self.base}: {_reason(exc)}") from None
        if found is None or not found.geometry:
            raise NoRoadRoute(f"{self.name} router at {self.base}: no route between the places")
        return Route(points=[(round(lat, 7), round(lon, 7)) for lon, lat in found.geometry],
                     distance_m=float(found.distance), duration_s=float(found.duration),
                     segment_durations_s=_segment_durations(self.name, found.raw))

    def _options(self) -> dict:
        """Return the engine's request options: a car, the full geometry, and OSRM's per-segment times."""
        profile = CAR_PROFILE[self.name]
        if self.name == "osrm":
            return {"profile": profile, "geometries": "geojson", "overview": "full", "annotations": True}
        if self.name == "graphhopper":
            return {"profile": profile, "points_encoded": False, "instructions": False}
        return {"profile": profile}


def _segment_durations(engine: str, raw: dict | None) -> list[float] | None:
    """Return OSRM's per-segment durations (``annotation.duration`` of each leg); None for others."""
    if engine != "osrm" or not raw:
        return None
    try:
        legs = raw["routes"][0]["legs"]
        return [float(d) for leg in legs for d in leg["annotation"]["duration"]]
    except (KeyError, IndexError, TypeError):
        return None


def _reason(exc: Exception) -> str:
    """Return an error's reason in a few words (routingpy's messages carry the whole answer)."""
    if isinstance(exc, rp_errors.Timeout):
        return "no answer in time"
    if isinstance(exc, rp_errors.RouterError):
        return f"answered {exc.status}: {str(exc.message)[:200]}"
    return str(exc)[:200] or type(exc).__name__
