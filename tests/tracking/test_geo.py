"""Tests for tracking.geo: projection, haversine, distance to segments and progress, geofences."""

from __future__ import annotations

import math

import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

from tracking.geo import CircleFence, PolygonFence, Projection, Route, haversine_m

LONDON = (51.5074, -0.1278)
PARIS = (48.8566, 2.3522)

lats = st.floats(min_value=-80, max_value=80)
lons = st.floats(min_value=-180, max_value=180)
offsets_m = st.floats(min_value=-20_000, max_value=20_000)


def _offset(origin: tuple[float, float], east_m: float, north_m: float) -> tuple[float, float]:
    """Return the (lat, lon) ``east_m``, ``north_m`` from origin (through the projection)."""
    return Projection(*origin).to_latlon(east_m, north_m)


def test_haversine_known_distances():
    assert haversine_m(*LONDON, *LONDON) == 0.0
    assert haversine_m(*LONDON, *PARIS) == pytest.approx(343_550, rel=2e-3)
    assert haversine_m(0, 0, 1, 0) == pytest.approx(111_195, rel=1e-4)  # one degree of latitude
    assert haversine_m(0, 179.9, 0, -179.9) == pytest.approx(22_239, rel=1e-3)  # across the antimeridian


@given(lats, lons, lats, lons)
def test_haversine_is_symmetric_and_bounded(lat1, lon1, lat2, lon2):
    d = haversine_m(lat1, lon1, lat2, lon2)
    assert d == pytest.approx(haversine_m(lat2, lon2, lat1, lon1), abs=1e-6)
    assert 0.0 <= d <= math.pi * 6_371_008.8 + 1


@given(lats, lons, offsets_m, offsets_m)
def test_projection_round_trip(lat0, lon0, east_m, north_m):
    proj = Projection(lat0, lon0)
    lat, lon = proj.to_latlon(east_m, north_m)
    x, y = proj.to_xy(lat, lon)
    assert x == pytest.approx(east_m, abs=1e-4)
    assert y == pytest.approx(north_m, abs=1e-4)


@given(st.floats(min_value=-70, max_value=70), lons, offsets_m, offsets_m, offsets_m, offsets_m)
def test_projected_distance_matches_haversine_within_a_trip(lat0, lon0, e1, n1, e2, n2):
    proj = Projection(lat0, lon0)
    a, b = proj.to_latlon(e1, n1), proj.to_latlon(e2, n2)
    planar = math.dist(proj.to_xy(*a), proj.to_xy(*b))
    # Equirectangular over ±20 km: the scale error grows with latitude, under ~1 % at 70°.
    assert planar == pytest.approx(haversine_m(*a, *b), rel=0.01, abs=0.5)


def test_projection_is_centred_on_the_bounding_box():
    proj = Projection.about([(51.0, -1.0), (52.0, 1.0), (51.5, 0.5)])
    assert (proj.lat0, proj.lon0) == (51.5, 0.0)
    assert proj.to_xy(51.5, 0.0) == (0.0, 0.0)


def test_route_length_matches_haversine():
    points = [LONDON, _offset(LONDON, 1000, 0), _offset(LONDON, 1000, 2000), _offset(LONDON, 3000, 2000)]
    route = Route(points)
    expected = sum(haversine_m(*a, *b) for a, b in zip(points, points[1:]))
    assert route.length_m == pytest.approx(expected, rel=1e-3)
    assert route.geometry().length == pytest.approx(route.length_m)
    assert route.segment_count == 3


def test_distance_is_to_segments_not_vertices():
    route = Route([LONDON, _offset(LONDON, 2000, 0)])
    beside_middle = _offset(LONDON, 1000, 10)
    located = route.locate(*beside_middle)
    assert located.distance_m == pytest.approx(10, abs=0.1)
    assert located.along_m == pytest.approx(1000, abs=0.5)
    distance_m, along_m = located  # also a plain (distance_to_route_m, progress_along_m) tuple
    assert (distance_m, along_m) == (located.distance_m, located.along_m)


def test_repeated_vertices_and_a_single_point_route():
    route = Route([LONDON, LONDON, _offset(LONDON, 100, 0), _offset(LONDON, 100, 0)])
    assert route.segment_count == 1
    assert route.length_m == pytest.approx(100, abs=0.01)
    point = Route([LONDON])
    assert point.length_m == 0.0
    located = point.locate(*_offset(LONDON, 30, 40))
    assert located == (pytest.approx(50, abs=0.01), 0.0)
    with pytest.raises(ValueError):
        Route([])


def test_point_at_walks_the_route():
    route = Route([LONDON, _offset(LONDON, 1000, 0), _offset(LONDON, 1000, 1000)])
    assert route.locate(*route.point_at(1500)).along_m == pytest.approx(1500, abs=0.01)
    assert route.point_at(-5) == pytest.approx(route.point_at(0))
    assert route.point_at(1e9) == pytest.approx(route.point_at(route.length_m))


def _out_and_back() -> Route:
    """Return a street driven east 2 km and back west on the other carriageway, 12 m away."""
    return Route([LONDON, _offset(LONDON, 2000, 0), _offset(LONDON, 2000, 12), _offset(LONDON, 0, 12)])


def test_window_keeps_progress_on_the_right_pass_of_an_out_and_back_route():
    route = _out_and_back()
    on_street = _offset(LONDON, 800, 6)  # half-way between the carriageways
    assert route.locate(*on_street).along_m == pytest.approx(800, abs=1)  # no history: the first pass
    back = route.locate(*on_street, near_m=3150.0)
    assert back.along_m == pytest.approx(2012 + 1200, abs=1)
    assert back.distance_m == pytest.approx(6, abs=0.1)


def test_loop_route_starts_at_its_beginning():
    loop = Route([LONDON, _offset(LONDON, 1000, 0), _offset(LONDON, 1000, 1000), _offset(LONDON, 0, 1000),
                  _offset(LONDON, 0, 5)])
    assert loop.locate(*_offset(LONDON, 3, 2)).along_m < 10


def test_window_falls_back_to_the_whole_route_when_nothing_is_close():
    # A U: 5 km east, 100 m north, 5 km back west; the legs run 100 m apart.
    route = Route([LONDON, _offset(LONDON, 5000, 0), _offset(LONDON, 5000, 100), _offset(LONDON, 0, 100)])
    on_return_leg = 5000 + 100 + 4000
    # Within close_m the window's answer stands, though the first leg is nearer.
    near = route.locate(*_offset(LONDON, 1000, 40), near_m=on_return_leg, close_m=75.0)
    assert near.along_m == pytest.approx(on_return_leg, abs=0.5)
    assert near.distance_m == pytest.approx(60, abs=0.1)
    # Nothing within close_m in the window: the whole route answers.
    far = route.locate(*_offset(LONDON, 1000, -20), near_m=on_return_leg, close_m=75.0)
    assert far.along_m == pytest.approx(1000, abs=0.5)
    assert far.distance_m == pytest.approx(20, abs=0.1)


def test_long_windows_use_the_vectorised_path_and_agree_with_the_loop():
    points = [_offset(LONDON, 10 * i, 5 * math.sin(i / 3)) for i in range(400)]
    route = Route(points)
    for east in (5.0, 1234.0, 3990.0):
        p = route.projection.to_xy(*_offset(LONDON, east, 40))
        wide = route.locate_xy(*p, near_m=2000.0, window_m=5000.0, behind_m=5000.0)
        narrow = route.locate_xy(*p, near_m=east, window_m=150.0, behind_m=150.0)
        assert wide.distance_m == pytest.approx(narrow.distance_m, abs=1e-6)
        assert wide.along_m == pytest.approx(narrow.along_m, abs=1e-6)


@st.composite
def routes_and_points(draw):
    """Draw a random route of 2–8 points within a few km, and a point near it."""
    origin = (draw(st.floats(-60, 60)), draw(st.floats(-170, 170)))
    n = draw(st.integers(2, 8))
    xy = [(draw(st.floats(-3000, 3000)), draw(st.floats(-3000, 3000))) for _ in range(n)]
    point = (draw(st.floats(-4000, 4000)), draw(st.floats(-4000, 4000)))
    proj = Projection(*origin)
    return [proj.to_latlon(*p) for p in xy], proj.to_latlon(*point)


@settings(max_examples=150, deadline=None)
@given(routes_and_points())
def test_distance_to_route_matches_haversine_to_the_nearest_point(case):
    points, (lat, lon) = case
    route = Route(points)
    located = route.locate(lat, lon, near_m=0.0, window_m=1e9)  # the whole route in the window: the nearest
    first = route.locate(lat, lon)  # no prior progress: the earliest of near ties
    assert located.distance_m <= first.distance_m <= located.distance_m + 15.0 + 1e-6
    assert located.distance_m >= 0.0
    assert -1e-6 <= located.along_m <= route.length_m + 1e-6
    # The reported progress points at a place on the route that far from the fix…
    assert haversine_m(lat, lon, *route.point_at(located.along_m)) == pytest.approx(located.distance_m, rel=5e-3,
                                                                                    abs=0.5)
    # …and no place on the route is nearer (sampled every ~1/400 of each segment).
    dense = [(a[0] + (b[0] - a[0]) * k / 400, a[1] + (b[1] - a[1]) * k / 400)
             for a, b in zip(points, points[1:]) for k in range(401)]
    nearest = min(haversine_m(lat, lon, *p) for p in dense)
    assert located.distance_m <= nearest * 1.005 + 0.5
    assert located.distance_m >= nearest * 0.995 - 8.0  # samples are up to ~15 m apart


@settings(max_examples=100, deadline=None)
@given(routes_and_points(), st.floats(0, 1))
def test_window_answer_is_within_close_m_or_the_nearest(case, frac):
    points, (lat, lon) = case
    route = Route(points)
    x, y = route.projection.to_xy(lat, lon)
    nearest = route.geometry().distance(shapely.Point(x, y))
    windowed = route.locate(lat, lon, near_m=frac * route.length_m, close_m=100.0)
    assert windowed.distance_m >= nearest - 1e-6
    assert windowed.distance_m <= max(100.0, nearest) + 1e-6


def test_route_agrees_with_shapely_project():
    points = [_offset(LONDON, 300 * i, 200 * math.sin(i)) for i in range(30)]
    route = Route(points)
    line = route.geometry()
    for east, north in ((0, 0), (1234, 80), (4500, -120), (8700, 300)):
        x, y = route.projection.to_xy(*_offset(LONDON, east, north))
        located = route.locate_xy(x, y)
        assert located.distance_m == pytest.approx(line.distance(shapely.Point(x, y)), abs=1e-6)
        assert located.along_m == pytest.approx(line.project(shapely.Point(x, y)), abs=1e-6)


def test_circle_fence_with_margin():
    proj = Projection(*LONDON)
    fence = CircleFence(*LONDON, 50.0, proj)
    assert fence.contains_xy(*proj.to_xy(*_offset(LONDON, 30, 30)))
    outside = proj.to_xy(*_offset(LONDON, 60, 0))
    assert not fence.contains_xy(*outside)
    assert fence.contains_xy(*outside, margin_m=20)
    assert fence.distance_xy(*outside) == pytest.approx(60, abs=0.01)
    with pytest.raises(ValueError):
        CircleFence(*LONDON, 0.0, proj)


def test_polygon_fence_contains_and_margin():
    proj = Projection(*LONDON)
    ring = [_offset(LONDON, 0, 0), _offset(LONDON, 100, 0), _offset(LONDON, 100, 100), _offset(LONDON, 0, 100)]
    fence = PolygonFence("z1", "Estate", ring, proj)
    assert fence.contains_xy(*proj.to_xy(*_offset(LONDON, 50, 50)))
    assert not fence.contains_xy(*proj.to_xy(*_offset(LONDON, 120, 50)))
    assert fence.contains_xy(*proj.to_xy(*_offset(LONDON, 120, 50)), margin_m=25)
    assert not fence.contains_xy(*proj.to_xy(*_offset(LONDON, 5000, 50)), margin_m=25)


def test_polygon_fence_repairs_a_bow_tie_and_refuses_too_few_points():
    proj = Projection(*LONDON)
    bow_tie = [_offset(LONDON, 0, 0), _offset(LONDON, 100, 100), _offset(LONDON, 100, 0), _offset(LONDON, 0, 100)]
    fence = PolygonFence("z2", "Bow tie", bow_tie, proj)
    assert fence.contains_xy(*proj.to_xy(*_offset(LONDON, 10, 50)))
    with pytest.raises(ValueError, match="at least 3 points"):
        PolygonFence("z3", "Line", bow_tie[:2], proj)
