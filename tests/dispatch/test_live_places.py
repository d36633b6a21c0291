"""Every change of a hazard zone or flagged place reaches the open live maps as a ``places`` event,
whether it was made on /admin/places, over REST, or by publishing a place an escort reported."""

from __future__ import annotations

import re
from datetime import timedelta

from app.db import utcnow
from dispatch import place_reports
from tests.factories import csrf_token, login


def _square(lat: float, lon: float, half_deg: float = 0.0005) -> dict:
    """Return a GeoJSON Polygon square around (lat, lon)."""
    ring = [[lon - half_deg, lat - half_deg], [lon + half_deg, lat - half_deg], [lon + half_deg, lat + half_deg],
            [lon - half_deg, lat + half_deg], [lon - half_deg, lat - half_deg]]
    return {"type": "Polygon", "coordinates": [ring]}


def _places(disp) -> list[dict]:
    """Return the ``places`` events received since the last call."""
    return [m["args"][0] for m in disp.get_received("/dispatch") if m["name"] == "places"]


def test_rest_changes_of_zones_and_flags_reach_the_live_maps(app, world, client):
    from app.realtime import socketio

    disp = socketio.test_client(app, namespace="/dispatch", auth={"token": world.api_tokens["dan"]})
    [snap] = [m["args"][0] for m in disp.get_received("/dispatch") if m["name"] == "snapshot"]
    assert snap["zones"] == [] and snap["flagged_places"] == []
    ada = world.bearer("ada")

    zone = client.post("/api/v1/hazard-zones", json={"name": "Closed road", "reason": "gas leak",
                                                      "polygon": _square(51.51, -0.1)}, headers=ada).json
    [event] = _places(disp)
    assert [(z["id"], z["name"], z["reason"]) for z in event["zones"]] == [(zone["id"], "Closed road", "gas leak")]
    assert event["zones"][0]["polygon"] == zone["polygon"] and event["flagged_places"] == []

    assert client.patch(f"/api/v1/hazard-zones/{zone['id']}", json={"name": "Closed road (north)"},
                        headers=ada).status_code == 200
    [event] = _places(disp)
    assert [z["name"] for z in event["zones"]] == ["Closed road (north)"]

    flag = client.post("/api/v1/flagged-places", headers=ada, json={
        "label": "12 Quillfeather Row", "category": "dog", "reason": "Dog in the hall",
        "point": {"lat": 51.5007, "lon": -0.1246, "radius_m": 30},
        "expires_at": (utcnow() + timedelta(days=30)).isoformat()}).json
    [event] = _places(disp)
    [shown] = event["flagged_places"]
    assert (shown["id"], shown["label"], shown["title"], shown["point"]) == (
        flag["id"], "12 Quillfeather Row", "Dog on the premises", {"lat": 51.5007, "lon": -0.1246, "radius_m": 30.0})
    assert [z["name"] for z in event["zones"]] == ["Closed road (north)"]  # the whole set, every time

    assert client.patch(f"/api/v1/flagged-places/{flag['id']}", json={"reason": "Dog loose in the yard"},
                        headers=ada).status_code == 200
    assert [f["reason"] for f in _places(disp)[0]["flagged_places"]] == ["Dog loose in the yard"]

    assert client.delete(f"/api/v1/flagged-places/{flag['id']}", headers=ada).status_code == 204
    assert _places(disp)[0]["flagged_places"] == []
    assert client.delete(f"/api/v1/hazard-zones/{zone['id']}", headers=ada).status_code == 204
    [event] = _places(disp)
    assert (event["zones"], event["flagged_places"]) == ([], [])

    # A refused change tells nobody.
    assert client.post("/api/v1/hazard-zones", json={"name": "x", "polygon": {"type": "Point"}},
                       headers=ada).status_code == 400
    assert _places(disp) == []
    disp.disconnect(namespace="/dispatch")


def test_page_changes_and_a_published_report_reach_the_live_maps(app, world, session):
    from app.realtime import socketio

    disp = socketio.test_client(app, namespace="/dispatch", auth={"token": world.api_tokens["dan"]})
    disp.get_received("/dispatch")
    web = login(app.test_client(), "ada")
    token = csrf_token(web)
    made = web.post("/admin/places/zones", data={"name": "Roadworks", "reason": "", "expires_on": "",
                                                 "vertices": "51.50, -0.12\n51.50, -0.11\n51.51, -0.11",
                                                 "csrf_token": token})
    assert made.status_code == 302
    [event] = _places(disp)
    [zone] = event["zones"]
    assert zone["name"] == "Roadworks" and len(zone["polygon"]) == 3
    assert web.post(f"/admin/places/zones/{zone['id']}", data={
        "name": "Roadworks", "reason": "Lane closed", "expires_on": "",
        "vertices": "51.50, -0.12\n51.50, -0.11\n51.51, -0.11\n51.51, -0.12", "csrf_token": token}).status_code == 302
    [event] = _places(disp)
    assert [(z["reason"], len(z["polygon"])) for z in event["zones"]] == [("Lane closed", 4)]
    assert web.post(f"/admin/places/zones/{zone['id']}/retire", data={"csrf_token": token}).status_code == 302
    assert _places(disp)[0]["zones"] == []

    # An escort's report is no warning until dispatch publishes it: then it is on the map.
    trip = world.make_trip(status="on_board", escort="emil", device=None)
    place = place_reports.report(session, user=world.users["escort2"], trip=trip, where="pickup", category="access",
                                 reason="Steep steps, no rail", now=utcnow())
    session.commit()
    assert _places(disp) == []
    assert web.post(f"/admin/places/reports/{place.id}/publish", data={"csrf_token": token}).status_code == 302
    [event] = _places(disp)
    assert [(f["id"], f["title"], f["reason"]) for f in event["flagged_places"]] == [
        (place.id, "Difficult access", "Steep steps, no rail")]
    disp.disconnect(namespace="/dispatch")


def test_the_places_version_grows_with_every_kind_of_change(app, world, client):
    """Two processes' ``places`` can arrive out of order: each carries ``places_version``, the newest change
    of any zone or flagged place (retired ones too), so the live map can tell the newer set."""
    from app.realtime import socketio

    disp = socketio.test_client(app, namespace="/dispatch", auth={"token": world.api_tokens["dan"]})
    [snap] = [m["args"][0] for m in disp.get_received("/dispatch") if m["name"] == "snapshot"]
    assert "places_version" in snap
    ada = world.bearer("ada")
    versions = []

    def changed(resp, status: int) -> dict:
        assert resp.status_code == status, resp.get_data(as_text=True)
        [event] = _places(disp)
        versions.append(event["places_version"])
        return resp.json

    zone = changed(client.post("/api/v1/hazard-zones", headers=ada, json={
        "name": "Closed road", "polygon": _square(51.51, -0.1)}), 201)
    changed(client.patch(f"/api/v1/hazard-zones/{zone['id']}", json={"reason": "gas leak"}, headers=ada), 200)
    flag = changed(client.post("/api/v1/flagged-places", headers=ada, json={
        "label": "12 Quillfeather Row", "category": "dog", "reason": "Dog in the hall",
        "point": {"lat": 51.5007, "lon": -0.1246, "radius_m": 30},
        "expires_at": (utcnow() + timedelta(days=30)).isoformat()}), 201)
    changed(client.patch(f"/api/v1/flagged-places/{flag['id']}", json={"reason": "Dog loose"}, headers=ada), 200)
    trip = world.make_trip(status="on_board", escort="emil", device=None)
    report = client.post("/api/v1/flagged-places/reports", headers=world.bearer("emil"), json={
        "trip_id": trip.id, "where": "pickup", "category": "access", "reason": "Steep steps, no rail"})
    assert report.status_code == 201, report.get_data(as_text=True)
    changed(client.post(f"/api/v1/flagged-places/{report.json['id']}/publish", headers=ada), 200)
    changed(client.delete(f"/api/v1/flagged-places/{flag['id']}", headers=ada), 204)
    changed(client.delete(f"/api/v1/hazard-zones/{zone['id']}", headers=ada), 204)

    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", v) for v in versions), versions
    assert all(a < b for a, b in zip(versions, versions[1:])), f"each change, retiring too, moves it on: {versions}"
    if snap["places_version"] is not None:
        assert snap["places_version"] < versions[0]
    # A map connecting now gets the same version with the snapshot.
    again = socketio.test_client(app, namespace="/dispatch", auth={"token": world.api_tokens["dan"]})
    [later] = [m["args"][0] for m in again.get_received("/dispatch") if m["name"] == "snapshot"]
    assert later["places_version"] == versions[-1]
    again.disconnect(namespace="/dispatch")
    disp.disconnect(namespace="/dispatch")
