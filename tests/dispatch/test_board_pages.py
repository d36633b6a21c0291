"""The dispatcher's day as pages, over HTTP: the board, the trip form, trip actions, standing orders, and who may see them."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from app.db import utcnow
from dispatch.models import StandingOrder, Trip
from tests.factories import csrf_token, login

PAGES = ["/dispatch/board", "/dispatch/trips/new", "/dispatch/standing-orders"]


def _trip_form(world, **over) -> dict:
    """Return a valid posted trip form (times local to the office: UTC in the tests)."""
    at = (utcnow() + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M")
    form = {"patient": f"Pat Example (#{world.patient.id})", "pickup_lat": "51.5007", "pickup_lon": "-0.1246",
            "dropoff_lat": "51.5022", "dropoff_lon": "-0.1050", "pickup_time": at, "appointment_time": "",
            "escort": "emil", "stop-0-lat": "51.5014", "stop-0-lon": "-0.1150", "stop-0-address": "",
            "setting_corridor_m": "90"}
    form.update(over)
    return form


@pytest.fixture
def web(app, world):
    """Return a test client logged in as the dispatcher, with its CSRF token."""
    client = login(app.test_client(), "dan")
    return client, csrf_token(client)


@pytest.mark.parametrize("name", ["eve", "cora"])
def test_escorts_and_coordinators_get_none_of_the_planning_pages(app, world, name):
    client = login(app.test_client(), name)
    token = csrf_token(client)
    for path in PAGES + [f"/dispatch/trips/{world.trip.id}/edit"]:
        assert client.get(path).status_code == 403, path
    for path in (f"/dispatch/trips/{world.trip.id}/reassign", f"/dispatch/trips/{world.trip.id}/cancel",
                 f"/dispatch/trips/{world.trip.id}/duplicate", "/dispatch/trips/new", "/dispatch/standing-orders"):
        assert client.post(path, data={"csrf_token": token}).status_code == 403, path


def test_the_board_groups_the_days_trips_and_refuses_a_bad_date(web, world):
    client, _ = web
    world.make_trip(status="assigned", escort="emil")
    html = client.get("/dispatch/board").get_data(as_text=True)
    under_way = html.split('id="group-under_way"')[1].split("</section>")[0]
    assert f'id="board-trip-{world.trip.id}"' in under_way and "Patient on board" in under_way
    assigned = html.split('id="group-assigned"')[1].split("</section>")[0]
    assert "emil" in assigned
    other_day = client.get("/dispatch/board", query_string={"date": "2030-01-01"}).get_data(as_text=True)
    assert "board-trip-" not in other_day
    bad = client.get("/dispatch/board", query_string={"date": "yesterday"})
    assert bad.status_code == 400 and "YYYY-MM-DD" in bad.get_data(as_text=True)


def test_a_planned_trip_is_created_from_the_form(web, world, session):
    client, token = web
    resp = client.post("/dispatch/trips/new", data={**_trip_form(world), "csrf_token": token})
    assert resp.status_code == 302, resp.get_data(as_text=True)[:2000]
    trip_id = int(resp.headers["Location"].rsplit("/", 1)[1])
    trip = session.get(Trip, trip_id)
    assert trip.status == "assigned" and trip.dropoff_lon == -0.105 and trip.settings == {"corridor_m": 90.0}
    assert trip.allowed_stops == [{"lat": 51.5014, "lon": -0.115, "radius_m": 75.0}]


def test_each_form_error_is_shown_at_its_field_and_the_values_are_kept(web, world, session):
    client, token = web
    before = len(session.exec(Trip.__table__.select()).all())
    bad = _trip_form(world, patient="Nobody", pickup_lat="95", dropoff_lon="", pickup_time="tomorrow",
                     **{"stop-0-lat": "here"}, setting_corridor_m="-4")
    resp = client.post("/dispatch/trips/new", data={**bad, "csrf_token": token})
    html = resp.get_data(as_text=True)
    assert resp.status_code == 400
    for name in ("patient", "pickup_lat", "dropoff_lon", "pickup_time", "stop-0-lat"):
        assert f'id="f-{name}-error"' in html or f'id="f-{name}-error' in html, name
        assert f'href="#f-{name}"' in html, name
    assert 'value="Nobody"' in html and 'value="95"' in html
    assert len(session.exec(Trip.__table__.select()).all()) == before


def test_edit_reassign_cancel_and_duplicate_from_the_trip_page(web, world, session):
    client, token = web
    trip = world.make_trip(status="assigned", now=utcnow() + timedelta(hours=1))
    page = client.get(f"/dispatch/trips/{trip.id}").get_data(as_text=True)
    assert "Reassign" in page and "Cancel trip" in page and "Duplicate trip" in page
    form = client.get(f"/dispatch/trips/{trip.id}/edit").get_data(as_text=True)
    current = dict(re.findall(r'name="([a-z_]+)" type="[a-z-]+" value="([^"]*)"', form))
    assert current["pickup_lat"] == "51.5007"
    edited = client.post(f"/dispatch/trips/{trip.id}/edit",
                         data={**current, "patient": f"Pat Example (#{world.patient.id})", "escort": "eve",
                               "dropoff_lat": "51.51", "csrf_token": token})
    assert edited.status_code == 302, edited.get_data(as_text=True)[:3000]
    session.expire_all()
    assert session.get(Trip, trip.id).dropoff_lat == 51.51
    assert client.post(f"/dispatch/trips/{trip.id}/reassign", data={"escort": "emil", "csrf_token": token}).status_code == 302
    session.expire_all()
    assert session.get(Trip, trip.id).escort_user_id == world.users["escort2"].id
    copy = client.post(f"/dispatch/trips/{trip.id}/duplicate", data={"csrf_token": token})
    assert copy.status_code == 302 and copy.headers["Location"].endswith("/edit")
    refused = client.post(f"/dispatch/trips/{trip.id}/cancel", data={"reason": " ", "csrf_token": token})
    session.expire_all()
    assert refused.status_code == 302 and session.get(Trip, trip.id).status == "assigned"
    client.post(f"/dispatch/trips/{trip.id}/cancel", data={"reason": "Hospital rang", "csrf_token": token})
    session.expire_all()
    assert session.get(Trip, trip.id).status == "cancelled"


def test_a_standing_order_is_made_on_its_page_and_one_date_skipped(web, world, session):
    client, token = web
    today = utcnow().date()
    form = {"patient": f"Pat Example (#{world.patient.id})", "pickup_lat": "51.5007", "pickup_lon": "-0.1246",
            "dropoff_lat": "51.5022", "dropoff_lon": "-0.1050", "pickup_time": "23:59", "appointment_time": "",
            "starts_on": today.isoformat(), "ends_on": (today + timedelta(days=90)).isoformat(), "escort": "",
            "csrf_token": token}
    missing = client.post("/dispatch/standing-orders", data=form)  # no days chosen
    assert missing.status_code == 400 and "Choose at least one day" in missing.get_data(as_text=True)
    made = client.post("/dispatch/standing-orders", data={**form, "days": ["mon", "wed", "fri"]})
    assert made.status_code == 302, made.get_data(as_text=True)[:2000]
    order = session.exec(StandingOrder.__table__.select()).first()
    got = client.get(f"/api/v1/standing-orders/{order.id}").json
    assert 10 <= len(got["trips"]) <= 13  # four weeks ahead, three days a week
    first = got["dates"][0]
    skipped = client.post(f"/dispatch/standing-orders/{order.id}/skip", data={"date": first["date"], "csrf_token": token})
    assert skipped.status_code == 302
    after = client.get(f"/api/v1/standing-orders/{order.id}").json
    assert after["dates"][0] == {**first, "skipped": True}
    assert after["trips"] == got["trips"][1:]
    assert session.get(Trip, first["trip_id"]).status == "cancelled"
    assert "skipped" in client.get("/dispatch/standing-orders").get_data(as_text=True)
