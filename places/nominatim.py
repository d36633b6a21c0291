"""A geocoder that asks a Nominatim-compatible service (``ESCORT_GEOCODER_URL``) through geopy.

It honours the public service's usage policy wherever it is pointed: an identifying
User-Agent, at most one request a second from this process (a lock that greenlets and
threads share), and answers kept in a small in-process LRU so that the same question is
asked once. The database cache (``places.cache``) sits above it for what outlives a process.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from geopy.exc import GeopyError
from geopy.geocoders import Nominatim

from places.geocoding import GeocoderUnavailable, Place

USER_AGENT = "escort-dispatch/0.1 (medical escort transport tracking; self-hosted)"
MIN_INTERVAL_S = 1.0  # Nominatim's usage policy: an absolute maximum of one request per second
TIMEOUT_S = 5.0
LRU_SIZE = 512


def split_url(url: str) -> tuple[str, str]:
    """Return geopy's ``(scheme, domain)`` for a service URL (the domain keeps any port and path)."""
    parts = urlsplit(url.strip() if "://" in url else f"https://{url.strip()}")
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"ESCORT_GEOCODER_URL must be an http(s) URL such as https://nominatim.example.org, not {url!r}")
    return parts.scheme, (parts.netloc + parts.path).rstrip("/")


class _Pace:
    """At most one call per ``interval_s`` across every thread and greenlet of the process."""

    def __init__(self, interval_s: float, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.interval_s = interval_s
        self._clock, self._sleep = clock, sleep
        self._lock = threading.Lock()  # gevent's monkey-patching makes it a greenlet lock in the server
        self._last = float("-inf")

    def wait(self) -> None:
        """Block until the next call is allowed, and claim it."""
        with self._lock:
            wait_s = self._last + self.interval_s - self._clock()
            if wait_s > 0:
                self._sleep(wait_s)
            self._last = self._clock()


class NominatimGeocoder:
    """A ``Geocoder`` over geopy's Nominatim client, paced, cached, with clear failures."""

    def __init__(self, url: str, *, user_agent: str = USER_AGENT, timeout_s: float = TIMEOUT_S,
                 min_interval_s: float = MIN_INTERVAL_S, lru_size: int = LRU_SIZE) -> None:
        scheme, domain = split_url(url)
        self.url = f"{scheme}://{domain}"
        self._client = Nominatim(user_agent=user_agent, domain=domain, scheme=scheme, timeout=timeout_s)
        self._pace = _Pace(min_interval_s)
        self._lru: OrderedDict[tuple, Any] = OrderedDict()
        self._lru_size = lru_size
        self._lru_lock = threading.Lock()

    def search(self, query: str, *, limit: int = 5) -> list[Place]:
        """Return the candidates for an address, best first (empty when nothing matches)."""
        query = " ".join(query.split())
        if not query:
            return []
        found = self._ask(("search", query.casefold(), limit),
                          lambda: self._client.geocode(query, exactly_one=False, limit=limit, addressdetails=False))
        return [_place(loc) for loc in found or []]

    def reverse(self, lat: float, lon: float) -> Place | None:
        """Return the nearest known address of a position, or None when nothing is near."""
        found = self._ask(("reverse", round(lat, 6), round(lon, 6)),
                          lambda: self._client.reverse((lat, lon), exactly_one=True, zoom=18))
        return _place(found) if found else None

    def _ask(self, key: tuple, call: Callable[[], Any]) -> Any:
        """Return the cached answer for ``key``, or ask the service (paced) and keep its answer."""
        with self._lru_lock:
            if key in self._lru:
                self._lru.move_to_end(key)
                return self._lru[key]
        self._pace.wait()
        try:
            answer = call()
        except GeopyError as exc:
            detail = str(exc) or type(exc).__name__
            raise GeocoderUnavailable(f"the geocoder at {self.url} did not answer: {detail}") from exc
        with self._lru_lock:
            self._lru[key] = answer
            while len(self._lru) > self._lru_size:
                self._lru.popitem(last=False)
        return answer


def _place(location) -> Place:
    """Return a geopy Location as our Place."""
    return Place(label=location.address, lat=float(location.latitude), lon=float(location.longitude))
