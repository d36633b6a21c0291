"""The places page (/admin/places) over HTTP, the REST edits of zones and flags, and detection seeing the edits."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import select

from app.db import utcnow
from app.models import AuditEvent
from dispatch.models import Alert, FlaggedPlace, HazardZone
from tests.factories import ROUTE, csrf_token, fix_payload, login

CROSSING = "51.50, -0.13\n51.51, -0.12\n51.50, -0.12\n51.51, -0.13"  # a bow tie: its edges cross


def _corners(lat: float, lon: float, half: float = 0.0005) -> str:
    """Return a square's corners as the page's "latitude, longitude" lines."""
    return "\n".join(f"{a}, {b}" for a, b in ((lat - half, lon - half), (lat - half, lon + half),
                                              (lat + half, lon + half), (lat + half, lon - half)))


def _square(lat: float, lon: float, half: float = 0.0005) -> dict:
    """Return a GeoJSON Polygon square around (lat, lon)."""
    ring = [[lon - half, lat - half], [lon + half, lat - half], [lon + half, lat + half], [lon - half, lat + half],
            [lon - half, lat - half]]
    return {"type": "Polygon", "coordinates": [ring]}


def _audit(session, action: str) -> list[AuditEvent]:
    session.expire_all()
    return list(session.exec(select(AuditEvent).where(AuditEvent.action == action)).all())


@pytest.fixture
def web(app, world):
    """A test client logged in as the dispatcher, and its CSRF token."""
    client = login(app.test_client(), "dan")
    return client, csrf_token(client)


def _zone(session, **over) -> HazardZone:
    now = utcnow()
    zone = HazardZone(**{"name": "Closed road", "reason": "gas leak", "ring": [[51.5, -0.1], [51.5, -0.09], [51.51, -0.09]],
                         "created_at": now, "updated_at": now, **over})
    session.add(zone)
    session.commit()
    return zone


def _flag(session, **over) -> FlaggedPlace:
    now = utcnow()
    place = FlaggedPlace(**{"label": "12 Quillfeather Row", "category": "dog", "reason": "Large dog in the hall",
                            "lat": 51.5, "lon": -0.1, "radius_m": 25, "expires_at": now + timedelta(days=30),
                            "created_at": now, "updated_at": now, **over})
    session.add(place)
    session.commit()
    return place


@pytest.mark.parametrize("name", ["eve", "cora"])
def test_escorts_and_coordinators_get_a_403(app, world, session, name):
    zone, place = _zone(session), _flag(session)
    client = login(app.test_client(), name)
    token = csrf_token(client)
    assert client.get("/admin/places").status_code == 403
    for path in ("/admin/places/zones", f"/admin/places/zones/{zone.id}", f"/admin/places/zones/{zone.id}/retire",
                 "/admin/places/flags", f"/admin/places/flags/{place.id}", f"/admin/places/flags/{place.id}/retire"):
        assert client.post(path, data={"csrf_token": token, "name": "x", "vertices": _corners(51.5, -0.1)}
                           ).status_code == 403, path
    session.expire_all()
    assert session.get(HazardZone, zone.id).active and session.get(FlaggedPlace, place.id).active


def test_the_page_lists_zones_and_places_in_text_with_who_and_when(web, world, session):
    client, _ = web
    _zone(session, created_by_id=world.users["dispatcher"].id)
    _flag(session, created_by_id=world.users["admin"].id)
    _zone(session, name="Old closure", active=False)
    html = client.get("/admin/places").get_data(as_text=True)
    assert "Closed road" in html and "gas leak" in html and "Added by dan" in html
    assert "12 Quillfeather Row" in html and "Dog on the premises" in html and "Large dog in the hall" in html
    assert "Added by ada" in html and "radius 25 m" in html
    assert "Old closure" not in html  # retired: on record, not on the page
    assert 'href="/admin/places"' in html  # the nav's "Places"
    assert 'id="places-link"' in client.get("/dispatch").get_data(as_text=True)  # and from the live map


def test_a_zone_is_created_from_the_form_and_audited(web, world, session):
    client, token = web
    resp = client.post("/admin/places/zones", data={"csrf_token": token, "name": "Roadworks", "reason": "lane shut",
                                                    "vertices": _corners(51.5, -0.1), "expires_on": ""})
    assert resp.status_code == 302 and "/admin/places" in resp.headers["Location"]
    [zone] = session.exec(select(HazardZone)).all()
    assert zone.name == "Roadworks" and len(zone.ring) == 4 and zone.ring[0] == [51.4995, -0.1005]
    assert zone.expires_at is None and zone.created_by_id == world.users["dispatcher"].id
    [event] = _audit(session, "zone_created")
    assert event.username == "dan" and event.object_id == zone.id and event.detail["via"] == "page"


@pytest.mark.parametrize("form,field,words", [
    ({"name": "Roadworks", "vertices": CROSSING}, "vertices", "not simple"),
    ({"name": "Roadworks", "vertices": "51.5, -0.1\n51.6, -0.1"}, "vertices", "at least 3"),
    ({"name": "Roadworks", "vertices": "north of the river"}, "vertices", "latitude, longitude"),
    ({"name": "  ", "vertices": _corners(51.5, -0.1)}, "name", "name is required"),
    ({"name": "Roadworks", "vertices": _corners(51.5, -0.1), "expires_on": "2001-01-01"}, "expires_on", "future"),
    ({"name": "Roadworks", "vertices": _corners(51.5, -0.1), "expires_on": "soon"}, "expires_on", "YYYY-MM-DD"),
])
def test_a_bad_zone_form_is_refused_at_its_field_with_the_values_kept(web, session, form, field, words):
    client, token = web
    resp = client.post("/admin/places/zones", data={"csrf_token": token, **form})
    html = resp.get_data(as_text=True)
    assert resp.status_code == 400
    error = html.split(f'id="f-zone-new-{field}-error"')[1].split("</p>")[0]
    assert words in error, error
    assert f'href="#f-zone-new-{field}"' in html  # the summary links to the field
    assert 'id="zone-new-details" open' in html
    if form["name"].strip():
        assert 'value="Roadworks"' in html
    assert session.exec(select(HazardZone)).all() == [] and _audit(session, "zone_created") == []


def test_a_zone_is_edited_and_retired_from_the_page(web, world, session):
    client, token = web
    zone = _zone(session)
    resp = client.post(f"/admin/places/zones/{zone.id}", data={
        "csrf_token": token, "name": "Closed road (east)", "reason": "", "vertices": _corners(51.52, -0.08)})
    assert resp.status_code == 302
    session.expire_all()
    zone = session.get(HazardZone, zone.id)
    assert zone.name == "Closed road (east)" and zone.reason is None and zone.ring[2] == pytest.approx([51.5205, -0.0795])
    [event] = _audit(session, "zone_updated")
    assert event.detail["via"] == "page" and "polygon" in event.detail["changed"]
    bad = client.post(f"/admin/places/zones/{zone.id}", data={"csrf_token": token, "name": "x", "vertices": CROSSING})
    assert bad.status_code == 400 and f'id="f-zone-{zone.id}-vertices-error"' in bad.get_data(as_text=True)
    assert f'id="zone-{zone.id}-details" open' in bad.get_data(as_text=True)
    assert client.post(f"/admin/places/zones/{zone.id}/retire", data={"csrf_token": token}).status_code == 302
    session.expire_all()
    assert not session.get(HazardZone, zone.id).active
    assert _audit(session, "zone_retired")[0].detail == {"via": "page", "name": "Closed road (east)"}
    assert "Closed road (east)" not in client.get("/admin/places").get_data(as_text=True).split("<h2")[1]
    assert client.post(f"/admin/places/zones/{zone.id}/retire", data={"csrf_token": token}).status_code == 404


def test_a_flagged_place_is_created_edited_and_retired_from_the_page(web, world, session):
    client, token = web
    until = (utcnow() + timedelta(days=60)).date().isoformat()
    resp = client.post("/admin/places/flags", data={
        "csrf_token": token, "label": "3 Lark Lane", "category": "unsafe_parking", "reason": "Cars broken into",
        "lat": "51.5012", "lon": "-0.1201", "radius_m": "40", "expires_on": until})
    assert resp.status_code == 302
    [place] = session.exec(select(FlaggedPlace)).all()
    assert (place.lat, place.lon, place.radius_m, place.category) == (51.5012, -0.1201, 40, "unsafe_parking")
    assert place.expires_at.date().isoformat() == until
    assert _audit(session, "flag_created")[0].detail["via"] == "page"
    resp = client.post(f"/admin/places/flags/{place.id}", data={
        "csrf_token": token, "label": "3 Lark Lane", "category": "dog", "reason": "Dog loose in the yard",
        "lat": "51.5013", "lon": "-0.1202", "radius_m": "15", "expires_on": until})
    assert resp.status_code == 302
    session.expire_all()
    place = session.get(FlaggedPlace, place.id)
    assert (place.category, place.reason, place.radius_m, place.lat) == ("dog", "Dog loose in the yard", 15, 51.5013)
    assert _audit(session, "flag_updated")[0].detail["via"] == "page"
    assert client.post(f"/admin/places/flags/{place.id}/retire", data={"csrf_token": token}).status_code == 302
    session.expire_all()
    assert not session.get(FlaggedPlace, place.id).active
    assert _audit(session, "flag_retired")[0].detail["via"] == "page"


@pytest.mark.parametrize("over,field,words", [
    ({"radius_m": "0"}, "radius_m", "radius"),
    ({"radius_m": ""}, "radius_m", "radius"),
    ({"lat": "95"}, "lat", "latitude"),
    ({"lon": "east"}, "lon", "number"),
    ({"reason": ""}, "reason", "reason is required"),
    ({"category": "ghosts"}, "category", "category must be one of"),
    ({"expires_on": ""}, "expires_on", "date"),
    ({"expires_on": "2099-01-01"}, "expires_on", "three years"),
])
def test_a_bad_flag_form_is_refused_at_its_field(web, session, over, field, words):
    client, token = web
    form = {"csrf_token": token, "label": "3 Lark Lane", "category": "dog", "reason": "Dog", "lat": "51.5",
            "lon": "-0.1", "radius_m": "30", "expires_on": (utcnow() + timedelta(days=9)).date().isoformat(), **over}
    resp = client.post("/admin/places/flags", data=form)
    html = resp.get_data(as_text=True)
    assert resp.status_code == 400
    assert words in html.split(f'id="f-flag-new-{field}-error"')[1].split("</p>")[0]
    assert 'value="3 Lark Lane"' in html
    assert session.exec(select(FlaggedPlace)).all() == []


def test_an_empty_post_is_a_400_not_a_500(web, world, session):
    client, token = web
    zone, place = _zone(session), _flag(session)
    for path in ("/admin/places/zones", f"/admin/places/zones/{zone.id}", "/admin/places/flags",
                 f"/admin/places/flags/{place.id}"):
        assert client.post(path, data={"csrf_token": token}).status_code == 400, path


# ---- REST: PATCH and DELETE, audited as "api" ---------------------------------------------------------------


def test_rest_patches_and_retires_a_zone(client, world, session):
    made = client.post("/api/v1/hazard-zones", json={"name": "Flood", "polygon": _square(51.5, -0.1)},
                       headers=world.bearer("dan")).json
    resp = client.patch(f"/api/v1/hazard-zones/{made['id']}", json={"name": "Flood (receding)"},
                        headers=world.bearer("dan"))
    assert resp.status_code == 200 and resp.json["name"] == "Flood (receding)"
    assert resp.json["polygon"] == made["polygon"]  # what was not given is kept
    bow = {"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]}
    crossed = client.patch(f"/api/v1/hazard-zones/{made['id']}", json={"polygon": bow}, headers=world.bearer("dan"))
    assert crossed.status_code == 400 and "simple" in crossed.json["error"]
    assert client.patch(f"/api/v1/hazard-zones/{made['id']}", json={"colour": "red"},
                        headers=world.bearer("dan")).status_code == 400
    assert client.patch(f"/api/v1/hazard-zones/{made['id']}", json={"name": "x"},
                        headers=world.bearer("cora")).status_code == 403
    assert client.delete(f"/api/v1/hazard-zones/{made['id']}", headers=world.bearer("dan")).status_code == 204
    assert client.patch(f"/api/v1/hazard-zones/{made['id']}", json={"name": "x"},
                        headers=world.bearer("dan")).status_code == 404
    actions = [(e.action, e.detail["via"]) for e in _audit(session, "zone_created") + _audit(session, "zone_updated")
               + _audit(session, "zone_retired")]
    assert actions == [("zone_created", "api"), ("zone_updated", "api"), ("zone_retired", "api")]


def test_rest_refuses_a_self_crossing_flagged_area_and_patches_a_flag(client, world, session):
    until = (utcnow() + timedelta(days=30)).isoformat()
    bow = {"type": "Polygon", "coordinates": [[[-0.13, 51.50], [-0.12, 51.51], [-0.12, 51.50], [-0.13, 51.51],
                                               [-0.13, 51.50]]]}
    resp = client.post("/api/v1/flagged-places", json={"label": "Estate", "category": "unsafe_parking", "reason": "r",
                                                       "polygon": bow, "expires_at": until}, headers=world.bearer("dan"))
    assert resp.status_code == 400 and "simple" in resp.json["error"]
    made = client.post("/api/v1/flagged-places", json={
        "label": "Estate", "category": "unsafe_parking", "reason": "r", "polygon": _square(51.5, -0.1),
        "expires_at": until}, headers=world.bearer("dan")).json
    # A point replaces the area.
    resp = client.patch(f"/api/v1/flagged-places/{made['id']}", json={
        "reason": "Only the north car park", "point": {"lat": 51.5004, "lon": -0.1, "radius_m": 20}},
        headers=world.bearer("dan"))
    assert resp.status_code == 200, resp.json
    assert resp.json["point"] == {"lat": 51.5004, "lon": -0.1, "radius_m": 20} and "polygon" not in resp.json
    assert resp.json["reason"] == "Only the north car park" and resp.json["label"] == "Estate"
    assert client.patch(f"/api/v1/flagged-places/{made['id']}", json={"category": "ghosts"},
                        headers=world.bearer("dan")).status_code == 400
    assert client.patch(f"/api/v1/flagged-places/{made['id']}", json={"reason": None},
                        headers=world.bearer("dan")).status_code == 400
    assert client.patch(f"/api/v1/flagged-places/{made['id']}", json={"reason": "x"},
                        headers=world.bearer("eve")).status_code == 403
    assert client.delete(f"/api/v1/flagged-places/{made['id']}", headers=world.bearer("dan")).status_code == 204
    assert client.patch(f"/api/v1/flagged-places/{made['id']}", json={"reason": "x"},
                        headers=world.bearer("dan")).status_code == 404
    assert [e.detail["via"] for e in _audit(session, "flag_updated")] == ["api"]
    assert [e.detail["via"] for e in _audit(session, "flag_retired")] == ["api"]


# ---- detection sees the edits -------------------------------------------------------------------------------


def _drive(client, world, points, start, first_seq=1):
    for i, p in enumerate(points):
        resp = client.post("/api/v1/fixes", json=[fix_payload(first_seq + i, lat=p[0], lon=p[1],
                                                              ts=start + timedelta(seconds=40 * i))],
                           headers={"Authorization": f"Bearer {world.device_token}"})
        assert resp.status_code == 200, resp.json


def _hazard_alerts(session):
    session.expire_all()
    return session.exec(select(Alert).where(Alert.kind == "hazard_zone")).all()


def test_a_retired_zone_raises_no_hazard_zone_alert(web, world, session):
    client, token = web
    mid = ROUTE[2]
    client.post("/admin/places/zones", data={"csrf_token": token, "name": "Closed road", "vertices": _corners(*mid)})
    [zone] = session.exec(select(HazardZone)).all()
    start = utcnow() - timedelta(minutes=10)
    _drive(client, world, [ROUTE[0], ROUTE[1]], start)  # detection has read the zones (and cached them)
    assert client.post(f"/admin/places/zones/{zone.id}/retire", data={"csrf_token": token}).status_code == 302
    _drive(client, world, [ROUTE[2], ROUTE[2], ROUTE[3]], start + timedelta(seconds=80), first_seq=3)
    assert _hazard_alerts(session) == []


def test_a_zone_moved_onto_the_route_raises_its_alert(web, world, session):
    client, token = web
    client.post("/admin/places/zones", data={"csrf_token": token, "name": "Closed road",
                                             "vertices": _corners(51.6, -0.2)})
    [zone] = session.exec(select(HazardZone)).all()
    start = utcnow() - timedelta(minutes=10)
    _drive(client, world, [ROUTE[0], ROUTE[1]], start)
    assert client.post(f"/admin/places/zones/{zone.id}", data={
        "csrf_token": token, "name": "Closed road", "vertices": _corners(*ROUTE[2])}).status_code == 302
    _drive(client, world, [ROUTE[2], ROUTE[2], ROUTE[3]], start + timedelta(seconds=80), first_seq=3)
    [alert] = _hazard_alerts(session)
    assert "Closed road" in str(alert.detail)
