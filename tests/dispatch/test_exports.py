"""Track and trip exports round-trip: the GPX parses with gpxpy with every stored point and time,
and the CSV and GeoJSON agree with it; exports are audited and keep to who may see what."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime, timedelta, timezone

import gpxpy
from sqlmodel import select

from app.models import AuditEvent
from dispatch import exports, triplog
from patients.models import Patient
from tests.conftest import shared_data
from tests.dispatch.triplog_world import T0, finished_trip
from tracking.fix import Fix
from tracking.models import Fix as FixRow
from tracking.traces import read_trace


def stored(session, trip_id: int) -> list[FixRow]:
    """Return the trip's stored fix rows in time order."""
    return list(session.exec(select(FixRow).where(FixRow.trip_id == trip_id).order_by(FixRow.ts, FixRow.id)).all())


def gpx_points(text: str):
    """Return every track point of a GPX document."""
    gpx = gpxpy.parse(text)
    return [p for t in gpx.tracks for s in t.segments for p in s.points]


def test_gpx_csv_and_geojson_of_a_trip_agree_with_the_stored_track(client, world, session):
    trip, _points = finished_trip(world, session)
    rows = stored(session, trip.id)
    assert len(rows) > 100
    h = world.bearer("cora")

    gpx = client.get(f"/api/v1/trips/{trip.id}/track.gpx", headers=h)
    assert gpx.status_code == 200 and gpx.headers["Content-Type"].startswith("application/gpx+xml")
    assert f'filename="trip-{trip.id}-track.gpx"' in gpx.headers["Content-Disposition"]
    points = gpx_points(gpx.get_data(as_text=True))
    assert [(p.latitude, p.longitude, p.time) for p in points] == [(r.lat, r.lon, r.ts) for r in rows]
    assert all(p.time.tzinfo is not None and p.time.utcoffset() == timedelta(0) for p in points)
    assert [p.elevation for p in points] == [r.altitude_m for r in rows]

    text = client.get(f"/api/v1/trips/{trip.id}/track.csv", headers=h).get_data(as_text=True)
    table = list(csv.DictReader(io.StringIO(text)))
    assert [(float(r["lat"]), float(r["lon"]), datetime.fromisoformat(r["ts"])) for r in table] == \
        [(p.latitude, p.longitude, p.time) for p in points]
    assert [int(r["seq"]) for r in table] == [r.seq for r in rows]
    assert [float(r["speed_mps"]) for r in table] == [r.speed_mps for r in rows]

    geo = client.get(f"/api/v1/trips/{trip.id}/track.geojson", headers=h)
    assert geo.headers["Content-Type"].startswith("application/geo+json")
    (feature,) = json.loads(geo.get_data())["features"]
    assert feature["geometry"]["type"] == "LineString"
    coords, times = feature["geometry"]["coordinates"], feature["properties"]["coordinateProperties"]["times"]
    assert [(c[1], c[0], datetime.fromisoformat(t)) for c, t in zip(coords, times, strict=True)] == \
        [(p.latitude, p.longitude, p.time) for p in points]
    assert [c[2] if len(c) == 3 else None for c in coords] == [p.elevation for p in points]


def test_exports_are_audited_with_their_format(client, world, session):
    trip, _ = finished_trip(world, session)
    for fmt in ("gpx", "csv", "geojson"):
        assert client.get(f"/api/v1/trips/{trip.id}/track.{fmt}", headers=world.bearer("dan")).status_code == 200
    assert client.get(f"/api/v1/trips/{trip.id}/timeline", headers=world.bearer("dan")).status_code == 200
    assert client.get("/api/v1/trips.csv?from=2026-11-20&to=2026-11-20", headers=world.bearer("dan")).status_code == 200
    session.expire_all()
    rows = session.exec(select(AuditEvent).where(AuditEvent.action == "export").order_by(AuditEvent.id)).all()
    assert [(r.username, r.object_type, r.object_id, r.detail["format"]) for r in rows] == [
        ("dan", "trip", trip.id, "gpx"), ("dan", "trip", trip.id, "csv"), ("dan", "trip", trip.id, "geojson"),
        ("dan", "trip", trip.id, "timeline"), ("dan", "trip", None, "csv")]
    assert rows[0].detail["fixes"] == len(stored(session, trip.id))
    assert rows[-1].detail["count"] == 1 and rows[-1].detail["period"] == {"from": "2026-11-20", "to": "2026-11-20"}


def test_a_trip_someone_may_not_see_is_not_exported_nor_audited(client, world, session):
    other = Patient(name="Not Cora's", created_at=T0)
    session.add(other)
    session.commit()
    trip, _ = finished_trip(world, session, patient=other, escort="emil")
    for user in ("cora", "eve"):  # not cora's caseload; not eve's trip
        resp = client.get(f"/api/v1/trips/{trip.id}/track.gpx", headers=world.bearer(user))
        assert resp.status_code == 404 and resp.get_json() == {"error": f"no trip with id {trip.id}"}
    # emil's own trip ended days ago: past the escort's window (dispatch.access.ESCORT_SHEET_GRACE)
    assert client.get(f"/api/v1/trips/{trip.id}/track.gpx", headers=world.bearer("emil")).status_code == 404
    assert client.get(f"/api/v1/trips/{trip.id}/track.gpx", headers=world.bearer("ada")).status_code == 200
    assert client.get("/api/v1/trips/999999/track.csv", headers=world.bearer("ada")).get_json() == \
        {"error": "no trip with id 999999"}
    assert client.get(f"/api/v1/trips/{trip.id}/track.kml", headers=world.bearer("ada")).status_code == 404
    assert client.get(f"/api/v1/trips/{trip.id}/track.gpx").status_code == 401
    session.expire_all()
    assert [r.username for r in session.exec(select(AuditEvent).where(AuditEvent.action == "export")).all()] == ["ada"]


def test_a_real_trace_round_trips_through_every_format():
    fixes = read_trace(shared_data("traces", "gpxpy__around-visnjan-with-car.gpx"))
    points = gpx_points(exports.track_gpx(7, fixes))
    assert [(p.latitude, p.longitude, p.time) for p in points] == [(f.lat, f.lon, f.ts) for f in fixes]
    table = list(csv.DictReader(io.StringIO(exports.track_csv(fixes))))
    assert [(float(r["lat"]), float(r["lon"]), datetime.fromisoformat(r["ts"])) for r in table] == \
        [(f.lat, f.lon, f.ts) for f in fixes]
    feature = json.loads(exports.track_geojson_text(7, fixes))["features"][0]
    assert [(c[1], c[0]) for c in feature["geometry"]["coordinates"]] == [(f.lat, f.lon) for f in fixes]
    assert len(feature["properties"]["coordinateProperties"]["times"]) == len(fixes)


def test_tracks_of_no_fix_and_one_fix_are_still_valid_documents():
    one = [Fix(51.5, -0.12, datetime(2026, 11, 20, 9, tzinfo=timezone.utc), seq=1)]
    assert exports.track_geojson(1, [])["features"] == []
    assert exports.track_geojson(1, one)["features"][0]["geometry"] == {"type": "Point", "coordinates": [-0.12, 51.5]}
    assert gpx_points(exports.track_gpx(1, [])) == []
    assert exports.track_csv([]).strip() == ",".join(exports.TRACK_COLUMNS)


def test_period_csv_keeps_to_the_caseload_and_defuses_formulas(client, world, session):
    sneaky = Patient(name="=HYPERLINK(\"http://x\")", coordinator_user_id=world.users["coordinator"].id, created_at=T0)
    stranger = Patient(name="Someone Else", created_at=T0)
    session.add_all([sneaky, stranger])
    session.commit()
    mine, _ = finished_trip(world, session, patient=sneaky)
    theirs, _ = finished_trip(world, session, patient=stranger, t0=T0 + timedelta(hours=3))
    url = "/api/v1/trips.csv?from=2026-11-20&to=2026-11-20"
    resp = client.get(url, headers=world.bearer("cora"))
    assert resp.status_code == 200 and resp.headers["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(resp.get_data(as_text=True))))
    assert [int(r["trip_id"]) for r in rows] == [mine.id]
    assert rows[0]["patient_name"] == "'=HYPERLINK(\"http://x\")"
    assert rows[0]["statuses"] == "en_route_pickup > arrived_pickup > on_board > arrived_dropoff > completed"
    assert rows[0]["pickup_on_time"] == "true" and rows[0]["pickup_late_s"] == "300.0"
    assert rows[0]["alert_count"] == "1" and rows[0]["alerts"].startswith("deviation raised 2026-11-20T09:03:20Z")
    staff = list(csv.DictReader(io.StringIO(client.get(url, headers=world.bearer("dan")).get_data(as_text=True))))
    assert [int(r["trip_id"]) for r in staff] == [mine.id, theirs.id]
    assert client.get(url, headers=world.bearer("eve")).status_code == 403
    assert client.get("/api/v1/trips.csv", headers=world.bearer("dan")).get_json() == \
        {"error": "the export needs both from and to"}


def test_period_csv_hides_the_patient_where_the_sheet_is_not_open():
    trip = type("T", (), {"id": 3, "status": "completed", "started_at": None, "ended_at": None, "pickup_lat": 51.5,
                          "pickup_lon": -0.1, "dropoff_lat": 51.6, "dropoff_lon": -0.2})()
    from dispatch.figures import Outcome

    text = exports.trips_csv([(trip, Outcome(scheduled_pickup_at=T0), {"escort": "eve", "patient": None})])
    row = next(csv.DictReader(io.StringIO(text)))
    assert row["patient_id"] == row["patient_name"] == row["pickup_lat"] == row["dropoff_lon"] == ""
    assert row["escort"] == "eve" and row["scheduled_pickup_at"] == "2026-11-20T09:00:00Z"


def test_period_bounds_are_checked(client, world):
    h = world.bearer("dan")
    assert client.get("/api/v1/trips.csv?from=2026-01-01&to=2027-06-01", headers=h).get_json() == \
        {"error": f"a period is at most {triplog.MAX_PERIOD_DAYS} days"}
    assert client.get("/api/v1/trips.csv?from=yesterday&to=2026-01-01", headers=h).status_code == 400
    assert client.get("/api/v1/trips.csv?from=2026-02-01&to=2026-01-01", headers=h).get_json() == \
        {"error": "to must not be before from"}


def test_the_printed_report_draws_route_and_track_without_tiles(client, world, session):
    import xml.etree.ElementTree as ET

    from tests.factories import login

    trip, points = finished_trip(world, session)
    login(client, "cora")
    html = client.get(f"/trips/{trip.id}/report").get_data(as_text=True)
    svg = html[html.index("<svg class=\"track-sketch\""):html.index("</svg>", html.index("track-sketch")) + 6]
    root = ET.fromstring(svg)
    ns = "{http://www.w3.org/2000/svg}"
    lines = {p.get("class"): p.get("points").split() for p in root.iter(f"{ns}polyline")}
    assert len(lines["planned-route"]) == len(trip.route) and len(lines["driven-track"]) == len(points)
    assert len(lines["off-route"]) >= 2 and len(root.findall(f"{ns}circle")) == 1  # one stretch, one stop
    # North up: the route runs east and a little north, so x grows and y shrinks along it.
    (x0, y0), (x1, y1) = (map(float, lines["planned-route"][i].split(",")) for i in (0, -1))
    assert x1 > x0 and y1 < y0
    assert "No route or track" in exports.track_sketch_svg([], [], [], [])
