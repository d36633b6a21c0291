"""Escorts report places from the tablet; dispatch publishes or declines them; only published places warn.

REST with every role, the audit trail, who reported kept from other escorts, and a drive with
real Socket.IO clients over TCP: the tablet is told on entering a published flagged place and
dispatch gets the ``flagged_place`` alert, while a reported or declined place says nothing.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import select

from app.db import utcnow
from app.models import AuditEvent
from dispatch.models import Alert, FlaggedPlace, TripEvent
from tests.dispatch.test_line import Client
from tests.factories import ROUTE, fix_payload, login
from tests.live import ThreadedServer

REPORTS = "/api/v1/flagged-places/reports"


def _report(client, world, who="eve", **over):
    body = {"trip_id": world.trip.id, "where": "pickup", "category": "dog",
            "reason": "Large dog loose in the front garden; ring from the gate.", **over}
    return client.post(REPORTS, json=body, headers=world.bearer(who))


def _actions(session, action):
    session.expire_all()
    return session.exec(select(AuditEvent).where(AuditEvent.action == action)).all()


def test_an_escort_reports_dispatch_publishes_and_then_it_warns(client, world, session):
    made = _report(client, world)
    assert made.status_code == 201, made.json
    assert made.json["status"] == "reported" and made.json["category"] == "dog"
    [audit] = _actions(session, "place_reported")
    assert audit.username == "eve" and audit.object_id == made.json["id"] and audit.detail["where"] == "pickup"
    stored = session.get(FlaggedPlace, made.json["id"])
    assert (stored.lat, stored.lon) == ROUTE[0] and stored.reported_by_id == world.users["escort"].id
    assert stored.reported_trip_id == world.trip.id

    # Reported, not yet published: on no list that warns.
    assert client.get("/api/v1/flagged-places", headers=world.bearer("dan")).json == []
    [waiting] = client.get(REPORTS, headers=world.bearer("dan")).json
    assert waiting["reported_by"] == "eve" and waiting["reported_trip_id"] == world.trip.id
    assert waiting["status"] == "reported" and waiting["title"] == "Dog on the premises"

    published = client.post(f"/api/v1/flagged-places/{made.json['id']}/publish", headers=world.bearer("dan"))
    assert published.status_code == 200 and published.json["status"] == "published"
    assert published.json["reviewed_by"] == "dan" and published.json["reviewed_at"]
    assert [a.object_id for a in _actions(session, "place_published")] == [made.json["id"]]
    assert [p["id"] for p in client.get("/api/v1/flagged-places", headers=world.bearer("dan")).json] == [
        made.json["id"]]
    assert client.get(REPORTS, headers=world.bearer("dan")).json == []
    assert [r["id"] for r in client.get(f"{REPORTS}?status=published", headers=world.bearer("ada")).json] == [
        made.json["id"]]
    again = client.post(f"/api/v1/flagged-places/{made.json['id']}/publish", headers=world.bearer("dan"))
    assert again.status_code == 409 and "already published" in again.json["error"]


def test_another_escort_sees_the_warning_but_never_who_reported_it(client, world, session):
    made = _report(client, world).json
    client.post(f"/api/v1/flagged-places/{made['id']}/publish", headers=world.bearer("dan"))
    world.make_trip(status="assigned", escort="emil", device=None)
    login(client, "emil")
    html = client.get("/escort").get_data(as_text=True)
    assert "At the pickup: Dog on the premises" in html and "Large dog loose" in html
    assert "eve" not in html.replace("eve-", ""), "the reporter's name is nowhere on another escort's tablet"
    assert "reported_by" not in html


def test_the_tablet_warns_of_places_within_about_100_m_of_an_end(client, world, session):
    now = utcnow()
    north_80m = ROUTE[-1][0] + 80 / 111_195
    for lat, label in ((north_80m, "near"), (ROUTE[-1][0] + 300 / 111_195, "far")):
        session.add(FlaggedPlace(label=label, category="access", reason=f"{label}: steep steps", lat=lat,
                                 lon=ROUTE[-1][1], radius_m=10, expires_at=now + timedelta(days=5),
                                 created_at=now, updated_at=now))
    session.commit()
    login(client, "eve")
    html = client.get("/escort").get_data(as_text=True)
    assert "At the drop-off: Difficult access" in html and "near: steep steps" in html
    assert "far: steep steps" not in html


def test_here_is_the_last_fix_and_without_one_the_escort_is_told(client, world, session):
    no_fix = _report(client, world, where="here")
    assert no_fix.status_code == 409 and "no position" in no_fix.json["error"]
    ts = utcnow() - timedelta(seconds=30)
    resp = client.post("/api/v1/fixes", json=[fix_payload(1, lat=ROUTE[2][0], lon=ROUTE[2][1], ts=ts)],
                       headers={"Authorization": f"Bearer {world.device_token}"})
    assert resp.status_code == 200, resp.json
    made = _report(client, world, where="here", category="unsafe_parking", reason="Car park unlit at night")
    assert made.status_code == 201, made.json
    stored = session.get(FlaggedPlace, made.json["id"])
    assert (stored.lat, stored.lon) == pytest.approx(ROUTE[2]) and stored.status == "reported"
    assert "trip" not in stored.label.lower(), "the label other escorts may read names a place, not a trip"


def test_declined_with_a_reason_and_never_warns(client, world, session):
    made = _report(client, world).json
    url = f"/api/v1/flagged-places/{made['id']}/decline"
    assert client.post(url, json={"reason": ""}, headers=world.bearer("dan")).status_code == 400
    assert client.post(url, json={}, headers=world.bearer("dan")).status_code == 400
    declined = client.post(url, json={"reason": "Already flagged as 12 Quillfeather Row"}, headers=world.bearer("dan"))
    assert declined.status_code == 200 and declined.json["status"] == "declined"
    assert declined.json["decline_reason"] == "Already flagged as 12 Quillfeather Row"
    [audit] = _actions(session, "place_declined")
    assert audit.username == "dan" and audit.detail["reason"].startswith("Already flagged")
    assert client.post(f"/api/v1/flagged-places/{made['id']}/publish", headers=world.bearer("dan")).status_code == 409
    assert client.get("/api/v1/flagged-places", headers=world.bearer("dan")).json == []
    assert client.post("/api/v1/flagged-places/999999/decline", json={"reason": "x"},
                       headers=world.bearer("dan")).status_code == 404


@pytest.mark.parametrize(("over", "word"), [
    ({"category": "grumpy"}, "category"), ({"where": "there"}, "where"), ({"reason": ""}, "reason"),
    ({"trip_id": "x"}, "trip_id"), ({"extra": 1}, "extra"),
])
def test_bad_reports_get_a_clear_400(client, world, session, over, word):
    resp = _report(client, world, **over)
    assert resp.status_code == 400 and word in resp.json["error"], resp.json
    assert session.exec(select(FlaggedPlace)).all() == []


def test_who_may_report_and_who_may_review(client, world, session):
    other = world.make_trip(status="on_board", escort="emil", device=None)
    assert _report(client, world, trip_id=other.id).status_code == 404, "only on the escort's own trip"
    for name in ("dan", "ada", "cora"):
        assert _report(client, world, who=name).status_code == 403
    made = _report(client, world).json
    for name in ("eve", "emil", "cora"):
        assert client.get(REPORTS, headers=world.bearer(name)).status_code == 403
        assert client.post(f"/api/v1/flagged-places/{made['id']}/publish", headers=world.bearer(name)).status_code == 403
        assert client.post(f"/api/v1/flagged-places/{made['id']}/decline", json={"reason": "no"},
                           headers=world.bearer(name)).status_code == 403
    assert client.post(REPORTS, json={}).status_code == 401
    assert session.get(FlaggedPlace, made["id"]).status == "reported"


def test_entering_a_published_place_tells_the_tablet_and_alerts_dispatch_unpublished_ones_say_nothing(
        app, client, world, session):
    made = _report(client, world, where="dropoff", category="aggressive_resident",
                   reason="Son shouts at visitors; wait in the car").json
    assert client.post(f"/api/v1/flagged-places/{made['id']}/publish", headers=world.bearer("dan")).status_code == 200
    now = utcnow()
    for status, point in (("reported", ROUTE[2]), ("declined", ROUTE[3])):
        session.add(FlaggedPlace(label=status, category="aggressive_resident", reason=f"{status} place",
                                 lat=point[0], lon=point[1], radius_m=60, status=status,
                                 reported_by_id=world.users["escort2"].id, expires_at=now + timedelta(days=5),
                                 created_at=now, updated_at=now))
    session.commit()
    start = now - timedelta(minutes=5)
    points = [ROUTE[1], ROUTE[2], ROUTE[2], ROUTE[3], ROUTE[3], ROUTE[4], ROUTE[4], ROUTE[4]]
    fixes = [fix_payload(i + 1, lat=p[0], lon=p[1], ts=start + timedelta(seconds=30 * i)) for i, p in enumerate(points)]
    with ThreadedServer(app) as server:
        tablet = Client(server.url, "/device", {"token": world.device_token})
        desk = Client(server.url, "/dispatch", {"token": world.api_tokens["dan"]})
        try:
            for fix in fixes:  # one at a time, as a live tablet sends them
                assert tablet.call("fix", fix)["ok"]
            alert = desk.got("alert", lambda a: a["kind"] == "flagged_place")
            notice = tablet.got("flagged_place")
        finally:
            tablet.close()
            desk.close()
    assert alert["trip_id"] == world.trip.id and alert["detail"]["place_id"] == str(made["id"])
    assert notice["text"] == "Flagged place: Aggressive resident — Son shouts at visitors; wait in the car"
    assert notice["trip_id"] == world.trip.id and "eve" not in str(notice) and "emil" not in str(notice)
    session.expire_all()
    [stored] = session.exec(select(Alert).where(Alert.kind == "flagged_place")).all()
    assert stored.detail["place_id"] == str(made["id"]), "reported and declined places raised nothing"
    raised = session.exec(select(TripEvent).where(TripEvent.trip_id == world.trip.id,
                                                  TripEvent.kind == "alert_raised")).all()
    assert [e.detail["kind"] for e in raised if e.detail["kind"] == "flagged_place"] == ["flagged_place"]


def test_places_flagged_before_reports_existed_stay_published(tmp_path):
    """0025: rows made by dispatchers before escorts could report are published, and still warn."""
    import os

    from alembic import command
    from sqlalchemy import text
    from sqlmodel import Session

    from app.db import alembic_config, make_engine
    from app.db import upgrade as upgrade_all
    from dispatch import flags
    from tests.conftest import _reset_postgres

    url = os.environ.get("ESCORT_TEST_DATABASE_URL") or f"sqlite:///{tmp_path / 'old.db'}"
    engine = make_engine(url)
    _reset_postgres(engine)
    cfg = alembic_config(url)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0024")
    now = utcnow()
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO flagged_place (label, category, reason, lat, lon, radius_m, ring, active, "
                          "expires_at, created_at, updated_at) VALUES ('Old flag', 'dog', 'barks', 51.5, -0.1, 20, "
                          "'[]', :t, :exp, :now, :now)"),
                     {"t": True, "exp": now + timedelta(days=3), "now": now})
    upgrade_all(engine)
    with Session(engine) as session:
        [place] = session.exec(select(FlaggedPlace)).all()
        assert place.status == "published" and place.reported_by_id is None
        assert [p.label for p in flags.in_force(session, now)] == ["Old flag"]
    engine.dispose()


MINE = f"{REPORTS}/mine"


def test_an_escort_lists_their_own_reports_only_with_where_each_stands(client, world, session):
    first = _report(client, world, category="dog", reason="Dog loose").json
    second = _report(client, world, where="dropoff", category="no_lift", reason="Lift broken").json
    other_trip = world.make_trip(status="on_board", escort="emil", device=None)
    emils = _report(client, world, who="emil", trip_id=other_trip.id, category="access",
                    reason="emil's own words about the steps").json
    assert client.post(f"/api/v1/flagged-places/{first['id']}/publish", headers=world.bearer("dan")).status_code == 200
    assert client.post(f"/api/v1/flagged-places/{second['id']}/decline", json={"reason": "Lift repaired on Monday"},
                       headers=world.bearer("dan")).status_code == 200

    eve = client.get(MINE, headers=world.bearer("eve"))
    assert eve.status_code == 200
    assert [(r["id"], r["status"], r["state"]) for r in eve.json] == [
        (second["id"], "declined", "Declined"), (first["id"], "published", "Published")], "newest first, hers only"
    declined = eve.json[0]
    assert declined["decline_reason"] == "Lift repaired on Monday" and declined["title"] == "No lift"
    assert declined["reported_at"].endswith("Z") and declined["reviewed_at"].endswith("Z")
    assert "emil's own words" not in eve.get_data(as_text=True)
    for key in ("reported_by", "reviewed_by", "reported_trip_id"):
        assert key not in declined, f"{key}: who reported or reviewed is not the tablet's to show"

    emil = client.get(MINE, headers=world.bearer("emil")).json
    assert [(r["id"], r["state"]) for r in emil] == [(emils["id"], "Waiting for review")]
    assert "Dog loose" not in str(emil) and "Lift broken" not in str(emil)

    # Retired after publishing: the escort is not told it still warns.
    client.delete(f"/api/v1/flagged-places/{first['id']}", headers=world.bearer("dan"))
    session.expire_all()
    assert not session.get(FlaggedPlace, first["id"]).active
    assert client.get(MINE, headers=world.bearer("eve")).json[1]["state"] == "Published, since retired"

    for name in ("dan", "ada", "cora"):
        assert client.get(MINE, headers=world.bearer(name)).status_code == 403
    assert client.get(MINE).status_code == 401


def test_an_ended_trips_reports_and_their_addresses_leave_the_tablet(app, client, world, session):
    from app.realtime import socketio

    # A pickup report is labelled with the trip's pickup address: often the patient's home.
    world.trip.pickup_address = "Flat 3, 12 Quillfeather Row"
    session.add(world.trip)
    session.commit()
    tablet = socketio.test_client(app, namespace="/device", auth={"token": world.device_token})
    assert tablet.is_connected("/device")
    told = _report(client, world, where="pickup", category="dog", reason="Dog loose").json
    later = _report(client, world, where="pickup", category="access", reason="Steep steps").json
    assert [r["label"] for r in client.get(MINE, headers=world.bearer("eve")).json] == ["Flat 3, 12 Quillfeather Row"] * 2
    tablet.get_received("/device")
    assert client.post(f"/api/v1/flagged-places/{told['id']}/publish", headers=world.bearer("dan")).status_code == 200
    assert [m["args"][0]["id"] for m in tablet.get_received("/device") if m["name"] == "place_report"] == [told["id"]]

    # The trip ends; the next patient gets in the car. The earlier patient's address is not on the tablet.
    world.trip.status = "completed"
    session.add(world.trip)
    session.commit()
    world.make_trip(status="on_board", escort="eve", device=None)
    listed = client.get(MINE, headers=world.bearer("eve"))
    assert listed.status_code == 200 and listed.json == []
    # A review now is not pushed to the tablet either (it would carry the address over the socket).
    assert client.post(f"/api/v1/flagged-places/{later['id']}/publish", headers=world.bearer("dan")).status_code == 200
    assert [m for m in tablet.get_received("/device") if m["name"] == "place_report"] == []
    tablet.disconnect(namespace="/device")
    # Dispatch keeps the reports, with which trip they came from.
    staff = {r["id"]: r["reported_trip_id"] for r in client.get(f"{REPORTS}?status=all", headers=world.bearer("dan")).json}
    assert staff[told["id"]] == staff[later["id"]] == world.trip.id
