"""Planned routes from GPX and GeoJSON, recorded tracks to GPX: small files built here, and real traces."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

import gpxpy
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.conftest import shared_data
from tracking.fix import Fix
from tracking.gpxio import (
    MAX_GPX_BYTES,
    MAX_POINTS,
    GeoJsonError,
    GpxError,
    RouteFileError,
    read_gpx,
    route_from_geojson,
    route_from_gpx,
    track_to_gpx,
)

DATA = Path(__file__).parent / "data"
T0 = datetime(2026, 11, 22, 9, 0, tzinfo=timezone.utc)
HEAD = ("<?xml version='1.0' encoding='UTF-8'?>"
        "<gpx version='1.1' creator='test' xmlns='http://www.topografix.com/GPX/1/1'>")


def gpx(body: str, head: str = HEAD) -> str:
    """Return a GPX document with the given content."""
    return f"{head}{body}</gpx>"


def pts(tag: str, *latlons: tuple[float, float]) -> str:
    """Return GPX points of a tag (trkpt or rtept)."""
    return "".join(f"<{tag} lat='{lat}' lon='{lon}'/>" for lat, lon in latlons)


def test_track_segments_and_tracks_are_joined_in_order_and_the_note_says_so():
    doc = gpx(f"<trk><trkseg>{pts('trkpt', (1, 2), (1.1, 2.1))}</trkseg><trkseg>{pts('trkpt', (1.2, 2.2))}</trkseg>"
              f"</trk><trk><trkseg>{pts('trkpt', (5, 5), (6, 6))}</trkseg></trk>"
              f"<rte>{pts('rtept', (7, 7), (8, 8))}</rte>")
    assert route_from_gpx(doc) == [(1, 2), (1.1, 2.1), (1.2, 2.2), (5, 5), (6, 6)]
    assert route_from_gpx(doc.encode()) == route_from_gpx(doc), "bytes as well as text"
    assert read_gpx(doc).note == "joined 2 tracks, 5 points; the file's 1 route not used"


def test_an_empty_first_track_gives_way_to_the_next():
    doc = gpx(f"<trk><trkseg/></trk><trk><trkseg>{pts('trkpt', (5, 5), (6, 6))}</trkseg></trk>")
    read = read_gpx(doc)
    assert read.points == [(5, 5), (6, 6)]
    assert read.note == "1 track, 2 points; skipped 1 track with fewer than 2 distinct points"


def test_routes_are_joined_in_order_when_there_is_no_track():
    """As GPSBabel writes two routes to one file: both are kept, in order, not only the first."""
    doc = gpx(f"<wpt lat='0' lon='0'/><rte><name>OUT</name>{pts('rtept', (-33.9, 151.2), (-33.8, 151.3))}</rte>"
              f"<rte><name>BACK</name>{pts('rtept', (-33.8, 151.3), (-33.7, 151.4), (-33.6, 151.5))}</rte>")
    read = read_gpx(doc)
    assert read.points == [(-33.9, 151.2), (-33.8, 151.3), (-33.8, 151.3), (-33.7, 151.4), (-33.6, 151.5)]
    assert read.note == "joined 2 routes, 5 points"


def test_a_one_point_first_track_does_not_block_a_valid_route():
    doc = gpx(f"<trk><trkseg>{pts('trkpt', (3, 3))}</trkseg></trk><rte>{pts('rtept', (1, 1), (2, 2))}</rte>")
    read = read_gpx(doc)
    assert read.points == [(1, 1), (2, 2)]
    assert read.note == "1 route, 2 points"


GPXX = ("<?xml version='1.0' encoding='UTF-8'?><gpx version='1.1' creator='Garmin BaseCamp' "
        "xmlns='http://www.topografix.com/GPX/1/1' xmlns:gpxx='http://www.garmin.com/xmlschemas/GpxExtensions/v3'>")


def _rtept(lat, lon, *shape) -> str:
    rpts = "".join(f"<gpxx:rpt lat='{a}' lon='{b}'/>" for a, b in shape)
    ext = (f"<extensions><gpxx:RoutePointExtension><gpxx:Subclass>000000000000FFFFFFFFFFFFFFFFFFFFFFFF</gpxx:Subclass>"
           f"{rpts}</gpxx:RoutePointExtension></extensions>") if shape else ""
    return f"<rtept lat='{lat}' lon='{lon}'><name>via</name>{ext}</rtept>"


def test_garmin_shape_points_are_read_between_route_points():
    """BaseCamp writes the road between two via points as gpxx:rpt shape points of the first."""
    doc = gpx("<rte><name>Clinic</name>"
              + _rtept(48.6369, -123.1578, (48.6465, -123.1704), (48.6542, -123.1780))
              + _rtept(48.6602, -123.1812, (48.6640, -123.1840))
              + _rtept(48.6678, -123.1862) + "</rte>", head=GPXX)
    read = read_gpx(doc)
    assert read.points == [(48.6369, -123.1578), (48.6465, -123.1704), (48.6542, -123.178), (48.6602, -123.1812),
                           (48.664, -123.184), (48.6678, -123.1862)]
    assert read.note == "1 route, 6 points (with 3 Garmin shape points)"


def test_a_garmin_shape_point_without_coordinates_is_a_clear_error():
    doc = gpx("<rte>" + _rtept(1, 1, (2, 2)).replace("lat='2'", "lat='north'") + _rtept(3, 3) + "</rte>", head=GPXX)
    with pytest.raises(GpxError, match="shape point"):
        read_gpx(doc)


def test_gpxpys_cerknicko_jezero_keeps_all_296_points_of_its_tracks():
    """gpxpy's own test file: eight tracks (the first empty); the first with points has only 173."""
    data = (DATA / "gpxpy" / "cerknicko-jezero.gpx").read_bytes()
    parsed = gpxpy.parse(data.decode())
    in_order = [(p.latitude, p.longitude) for t in parsed.tracks for s in t.segments for p in s.points]
    read = read_gpx(data)
    assert len(read.points) == 296 and read.points == in_order
    assert read.note == "joined 7 tracks, 296 points; skipped 1 track with fewer than 2 distinct points"
    assert len([p for s in parsed.tracks[1].segments for p in s.points]) == 173  # what was kept before


def test_gpx_1_0_bom_and_declared_encodings():
    v10 = "<gpx version='1.0' xmlns='http://www.topografix.com/GPX/1/0'>"
    assert route_from_gpx(gpx(f"<trk><trkseg>{pts('trkpt', (1, 1), (2, 2))}</trkseg></trk>", v10)) == [(1, 1), (2, 2)]
    doc = gpx(f"<trk><trkseg>{pts('trkpt', (1, 1), (2, 2))}</trkseg></trk>")
    assert route_from_gpx(b"\xef\xbb\xbf" + doc.encode()) == [(1, 1), (2, 2)]
    latin = ("<?xml version='1.0' encoding='ISO-8859-1'?><gpx version='1.1'><trk><name>Caf\xe9</name><trkseg>"
             f"{pts('trkpt', (1, 1), (2, 2))}</trkseg></trk></gpx>").encode("latin-1")
    assert route_from_gpx(latin) == [(1, 1), (2, 2)]


@pytest.mark.parametrize("data,words", [
    ("", "empty"),
    (b"   ", "empty"),
    ("<gpx", "malformed"),
    ("not xml at all", "malformed"),
    ("<?xml version='1.0'?><kml><Document/></kml>", "root element is <kml>"),
    ("<html><body>a page</body></html>", "root element is <html>"),
    (gpx(""), "no track or route"),
    (gpx("<trk><trkseg/></trk><rte/>"), "no track or route"),
    (gpx("<wpt lat='1' lon='1'/><wpt lat='2' lon='2'/>"), "only waypoints"),
    (gpx(f"<trk><trkseg>{pts('trkpt', (1, 1))}</trkseg></trk>"), "at least 2"),
    (gpx(f"<rte>{pts('rtept', (1, 1), (1, 1), (1, 1))}</rte>"), "2 distinct points"),
    (gpx(f"<trk><trkseg>{pts('trkpt', (91, 1), (1, 1))}</trkseg></trk>"), "out of range"),
    (gpx(f"<trk><trkseg>{pts('trkpt', (1, 1), (1, -181))}</trkseg></trk>"), "point 2"),
    (gpx(f"<trk><trkseg>{pts('trkpt', ('nan', 1), (1, 1))}</trkseg></trk>"), "out of range"),
    (gpx(f"<trk><trkseg>{pts('trkpt', ('1e400', 1), (1, 1))}</trkseg></trk>"), "out of range"),
    (gpx("<trk><trkseg><trkpt lat='abc' lon='1'/></trkseg></trk>"), "not a readable GPX"),
    (gpx("<trk><trkseg><trkpt lon='1'/></trkseg></trk>"), "latitude"),
    (b"<?xml version='1.0' encoding='UTF-8'?><gpx><trk><name>\xe9</name></trk></gpx>", "not valid UTF-8"),
    (b"<?xml version='1.0' encoding='klingon'?><gpx/>", "unknown encoding"),
    (b" " * (MAX_GPX_BYTES + 1), "larger than 2 MB"),
])
def test_bad_gpx_is_refused_with_a_clear_message(data, words):
    with pytest.raises(GpxError, match=words):
        route_from_gpx(data)


def test_gpx_error_is_a_value_error_and_entities_cannot_explode():
    assert issubclass(GpxError, ValueError) and issubclass(GeoJsonError, ValueError)
    assert issubclass(GpxError, RouteFileError)
    lol = "".join(f"<!ENTITY l{i + 1} '{f'&l{i};' * 10}'>" for i in range(9))
    bomb = (f"<?xml version='1.0'?><!DOCTYPE g [<!ENTITY l0 'lol'>{lol}]>"
            "<gpx version='1.1'><trk><name>&l9;</name></trk></gpx>")
    with pytest.raises(GpxError, match="malformed"):
        route_from_gpx(bomb)


def test_too_many_points():
    many = [(i / 100_000, 0.0) for i in range(MAX_POINTS + 1)]
    with pytest.raises(GpxError, match="at most"):
        route_from_gpx(gpx(f"<trk><trkseg>{pts('trkpt', *many)}</trkseg></trk>"))
    with pytest.raises(GeoJsonError, match="at most"):
        route_from_geojson({"type": "LineString", "coordinates": [[lon, lat] for lat, lon in many]})


# --- GeoJSON --------------------------------------------------------------------------------

def test_geojson_linestring_bare_or_in_a_feature_swaps_to_lat_lon():
    line = {"type": "LineString", "coordinates": [[-0.12, 51.5], [-0.11, 51.51, 12.0]]}
    assert route_from_geojson(line) == [(51.5, -0.12), (51.51, -0.11)]
    assert route_from_geojson({"type": "Feature", "properties": {}, "geometry": line}) == [(51.5, -0.12),
                                                                                            (51.51, -0.11)]


@pytest.mark.parametrize("obj,words", [
    (None, "LineString"),
    ([[0, 0], [1, 1]], "LineString"),
    ({"type": "Point", "coordinates": [0, 0]}, "not 'Point'"),
    ({"type": "Feature", "geometry": None}, "LineString"),
    ({"type": "FeatureCollection", "features": []}, "FeatureCollection"),
    ({"type": "LineString"}, "list of"),
    ({"type": "LineString", "coordinates": "0,0 1,1"}, "list of"),
    ({"type": "LineString", "coordinates": [[0, 0]]}, "at least 2"),
    ({"type": "LineString", "coordinates": [[0, 0], [0, 0]]}, "distinct"),
    ({"type": "LineString", "coordinates": [[0, 0], [1]]}, "position 2"),
    ({"type": "LineString", "coordinates": [[0, 0], ["1", "1"]]}, r"\[lon, lat\]"),
    ({"type": "LineString", "coordinates": [[0, 0], [True, 1]]}, r"\[lon, lat\]"),
    ({"type": "LineString", "coordinates": [[0, 0], [1, 91]]}, "out of range"),
    ({"type": "LineString", "coordinates": [[0, 0], [181, 1]]}, "out of range"),
    ({"type": "LineString", "coordinates": [[0, 0], [float("nan"), 1]]}, "out of range"),
    ({"type": "LineString", "coordinates": [[0, 0], [10**400, 1]]}, "out of range"),
])
def test_bad_geojson_is_refused_with_a_clear_message(obj, words):
    with pytest.raises(GeoJsonError, match=words):
        route_from_geojson(obj)


# --- export ---------------------------------------------------------------------------------

def _track(n: int) -> list[Fix]:
    """Return n fixes a second apart, some with altitude."""
    return [Fix(51.5 + i * 1e-4, -0.12 + i * 1e-4, T0 + timedelta(seconds=i, microseconds=250_000 * (i % 4)),
                seq=i, altitude_m=10.0 + i if i % 2 else None) for i in range(n)]


def test_track_to_gpx_is_gpx_1_1_with_every_time_in_utc():
    fixes = _track(5)
    fixes[1] = Fix(fixes[1].lat, fixes[1].lon, fixes[1].ts.astimezone(timezone(timedelta(hours=2))), seq=1)
    xml = track_to_gpx(fixes, "Trip 7 & <Mrs B>\x00")
    assert 'version="1.1"' in xml and "http://www.topografix.com/GPX/1/1" in xml
    assert xml.count("<time>") == 5 and "+02:00" not in xml and "Z</time>" in xml
    parsed = gpxpy.parse(xml)
    [track] = parsed.tracks
    assert track.name == "Trip 7 & <Mrs B>", "escaped, control characters dropped"
    points = track.segments[0].points
    assert [(p.latitude, p.longitude) for p in points] == [(f.lat, f.lon) for f in fixes]
    assert [p.time.replace(tzinfo=timezone.utc) for p in points] == [f.ts.astimezone(timezone.utc) for f in fixes]
    assert [p.elevation for p in points] == [f.altitude_m for f in fixes]
    assert route_from_gpx(xml) == [(f.lat, f.lon) for f in fixes], "an export reads back as a route"


def test_track_to_gpx_of_nothing_and_of_a_generator():
    assert gpxpy.parse(track_to_gpx([], "empty")).tracks[0].segments[0].points == []
    assert track_to_gpx((f for f in _track(3)), "gen").count("<trkpt") == 3


def test_track_to_gpx_refuses_naive_times():
    with pytest.raises(ValueError, match="naive"):
        track_to_gpx([Fix(1, 1, datetime(2026, 1, 1), seq=3)], "t")


@given(st.lists(st.tuples(st.floats(-90, 90), st.floats(-180, 180)), min_size=2, max_size=30,
                unique_by=lambda p: (round(p[0], 7), round(p[1], 7))))
def test_gpx_round_trip_of_any_points(latlons):
    fixes = [Fix(lat, lon, T0 + timedelta(seconds=i)) for i, (lat, lon) in enumerate(latlons)]
    back = route_from_gpx(track_to_gpx(fixes, "p"))
    # GPX forbids exponents, so gpxpy writes tiny values with 10 decimals (0.01 mm): exact otherwise.
    assert [c for p in back for c in p] == pytest.approx([c for p in latlons for c in p], abs=1e-10)


def _point(tag: str, lat: str, lon: str, ele: str, time: str) -> str:
    """Return one GPX point with arbitrary attribute and element text, escaped."""
    return (f"<{tag} lat={quoteattr(lat)} lon={quoteattr(lon)}>"
            f"<ele>{escape(ele)}</ele><time>{escape(time)}</time></{tag}>")


NUMBERISH = st.one_of(st.text(max_size=12), st.floats().map(str), st.integers().map(str))
POINTS = st.lists(st.tuples(NUMBERISH, NUMBERISH, NUMBERISH, st.text(max_size=30)), max_size=4)
DOCUMENTS = st.builds(
    lambda trk, rte: gpx(f"<trk><trkseg>{''.join(_point('trkpt', *p) for p in trk)}</trkseg></trk>"
                         f"<rte>{''.join(_point('rtept', *p) for p in rte)}</rte>"), POINTS, POINTS)


@given(st.one_of(st.text(max_size=200), st.binary(max_size=200), DOCUMENTS,
                 st.builds(gpx, st.text(alphabet="<>/=' trkpsegltonamewi0123456789.-", max_size=120))))
def test_route_from_gpx_never_raises_anything_but_gpx_error(data):
    try:
        route_from_gpx(data)
    except GpxError:
        pass


# --- real traces ----------------------------------------------------------------------------

@pytest.mark.parametrize("name,count", [("gpxpy__around-visnjan-with-car.gpx", 104),
                                        ("gpsbabel__mtk_logger_m241.gpx", 1199)])
def test_real_traces_read_as_routes(name, count):
    path = shared_data("traces", name)
    route = route_from_gpx(path.read_bytes())
    assert len(route) == count and route == route_from_gpx(path.read_text())
    assert all(-90 <= lat <= 90 and -180 <= lon <= 180 for lat, lon in route)
    lats, lons = zip(*route)
    if "visnjan" in name:  # Istria, Croatia
        assert 45.0 < min(lats) and max(lats) < 45.5 and 13.5 < min(lons) and max(lons) < 14.0
    else:  # south-east of Rome
        assert 41.5 < min(lats) and max(lats) < 42.1 and 12.4 < min(lons) and max(lons) < 13.2
