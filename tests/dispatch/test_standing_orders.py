"""Standing orders over REST: trips made ahead, one date skipped or changed alone, the top-up, the end."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest

from app.db import utcnow
from dispatch import standing
from dispatch.models import StandingOrder, Trip
from dispatch.service import top_up_standing_orders
from tests.factories import ROUTE


def _body(world, **over) -> dict:
    today = utcnow().date()
    body = {"patient_id": world.patient.id, "escort": "emil",
            "pickup": {"lat": ROUTE[0][0], "lon": ROUTE[0][1]}, "dropoff": {"lat": ROUTE[-1][0], "lon": ROUTE[-1][1]},
            "pickup_time": "23:58", "appointment_time": "23:59", "days": ["mon", "wed", "fri"],
            "starts_on": (today + timedelta(days=1)).isoformat(),
            "ends_on": (today + timedelta(days=91)).isoformat()}
    body.update(over)
    return body


def _create(client, world, **over):
    return client.post("/api/v1/standing-orders", json=_body(world, **over), headers=world.bearer("dan"))


def test_a_three_month_order_makes_four_weeks_of_trips_on_its_days(client, world, session):
    resp = _create(client, world)
    assert resp.status_code == 201, resp.json
    order = resp.json
    assert order["days"] == ["mon", "wed", "fri"] and order["escort"] == "emil" and order["time_zone"] == "UTC"
    trips = [session.get(Trip, t) for t in order["trips"]]
    assert 11 <= len(trips) <= 13
    horizon = utcnow() + timedelta(days=standing.HORIZON_DAYS + 1)
    for trip in trips:
        assert trip.scheduled_pickup_at.weekday() in (0, 2, 4) and trip.scheduled_pickup_at < horizon
        assert trip.scheduled_pickup_at.strftime("%H:%M") == "23:58" and trip.status == "assigned"
        assert trip.appointment_at - trip.scheduled_pickup_at == timedelta(minutes=1)
    listed = client.get("/api/v1/standing-orders", headers=world.bearer("dan")).json
    assert [o["id"] for o in listed] == [order["id"]]


def test_skipping_one_date_cancels_its_trip_and_leaves_the_others(client, world, session):
    order = _create(client, world).json
    first, second = order["dates"][0], order["dates"][1]
    resp = client.post(f"/api/v1/standing-orders/{order['id']}/skip", json={"date": first["date"]},
                       headers=world.bearer("dan"))
    assert resp.status_code == 200, resp.json
    assert resp.json["dates"][0]["skipped"] is True and resp.json["dates"][1] == second
    session.expire_all()
    assert session.get(Trip, first["trip_id"]).status == "cancelled"
    assert session.get(Trip, second["trip_id"]).status == "assigned"
    again = client.post(f"/api/v1/standing-orders/{order['id']}/skip", json={"date": first["date"]},
                        headers=world.bearer("dan"))
    assert again.status_code == 200  # the same skip twice is one skip


def test_a_date_beyond_the_horizon_skipped_is_never_made(client, world, session):
    order = _create(client, world).json
    made = {d["date"] for d in order["dates"]}
    later = next(d for d in standing.dates_between(session.get(StandingOrder, order["id"]),
                                                   utcnow().date() + timedelta(days=40), utcnow().date() + timedelta(days=60)))
    assert later.isoformat() not in made
    resp = client.post(f"/api/v1/standing-orders/{order['id']}/skip", json={"date": later.isoformat()},
                       headers=world.bearer("dan"))
    assert resp.status_code == 200
    # Thirty days on, the sweep tops up: every date but the skipped one gets its trip.
    ids = top_up_standing_orders(world.app.extensions["escort"].engine, now=utcnow() + timedelta(days=35))
    assert ids
    after = client.get(f"/api/v1/standing-orders/{order['id']}", headers=world.bearer("dan")).json
    row = next(d for d in after["dates"] if d["date"] == later.isoformat())
    assert row == {"date": later.isoformat(), "trip_id": None, "skipped": True}
    assert top_up_standing_orders(world.app.extensions["escort"].engine, now=utcnow() + timedelta(days=35)) == []


def test_one_dates_trip_is_changed_alone_through_the_trip(client, world, session):
    order = _create(client, world).json
    one, other = order["trips"][0], order["trips"][1]
    resp = client.patch(f"/api/v1/trips/{one}", json={"escort": "eve"}, headers=world.bearer("dan"))
    assert resp.status_code == 200
    assert client.get(f"/api/v1/trips/{other}", headers=world.bearer("dan")).json["escort"] == "emil"


def test_skip_refuses_other_days_and_started_trips(client, world, session):
    order = _create(client, world).json
    tuesday = next(d for d in (utcnow().date() + timedelta(days=i) for i in range(2, 10)) if d.weekday() == 1)
    bad = client.post(f"/api/v1/standing-orders/{order['id']}/skip", json={"date": tuesday.isoformat()},
                      headers=world.bearer("dan"))
    assert bad.status_code == 400 and "not one of this order's dates" in bad.json["error"]
    started = session.get(Trip, order["dates"][0]["trip_id"])
    started.status = "en_route_pickup"
    session.add(started)
    session.commit()
    busy = client.post(f"/api/v1/standing-orders/{order['id']}/skip", json={"date": order["dates"][0]["date"]},
                       headers=world.bearer("dan"))
    assert busy.status_code == 409 and "en route pickup" in busy.json["error"]


BAD = [
    ("no days", {"days": []}, "days"),
    ("unknown day", {"days": ["mon", "someday"]}, "days"),
    ("bad time", {"pickup_time": "25:00"}, "pickup_time"),
    ("appointment first", {"appointment_time": "06:00"}, "appointment_time"),
    ("ends before it starts", {"ends_on": "2000-01-01"}, "ends_on"),
    ("too long", {"ends_on": (date.today() + timedelta(days=800)).isoformat()}, "366"),
    ("unknown escort", {"escort": "nobody"}, "nobody"),
    ("unknown patient", {"patient_id": 9999}, "patient"),
    ("extra field", {"colour": "red"}, "colour"),
]


@pytest.mark.parametrize("label,over,word", BAD, ids=[b[0] for b in BAD])
def test_bad_orders_get_a_clear_400_and_make_nothing(client, world, session, label, over, word):
    resp = _create(client, world, **over)
    assert resp.status_code == 400, (label, resp.json)
    assert word in resp.json["error"], resp.json
    assert session.exec(StandingOrder.__table__.select()).first() is None


def test_ending_an_order_cancels_its_coming_trips_and_checks_roles(client, world, session):
    order = _create(client, world).json
    assert client.delete(f"/api/v1/standing-orders/{order['id']}", headers=world.bearer("eve")).status_code == 403
    assert _create(client, world).status_code == 201
    assert client.post("/api/v1/standing-orders", json=_body(world), headers=world.bearer("cora")).status_code == 403
    resp = client.delete(f"/api/v1/standing-orders/{order['id']}", headers=world.bearer("dan"))
    assert resp.status_code == 200 and resp.json["active"] is False
    session.expire_all()
    assert {session.get(Trip, t).status for t in order["trips"]} == {"cancelled"}
    assert client.delete(f"/api/v1/standing-orders/{order['id']}", headers=world.bearer("dan")).status_code == 409
    assert client.get("/api/v1/standing-orders/424242", headers=world.bearer("dan")).status_code == 404


def test_dates_between_follows_the_weekdays_and_the_order_span():
    order = StandingOrder(patient_id=1, pickup_lat=0, pickup_lon=0, pickup_radius_m=75, dropoff_lat=0, dropoff_lon=0,
                          dropoff_radius_m=75, pickup_time="09:00", tz="Europe/London", days=["mon", "fri"],
                          starts_on=date(2026, 12, 1), ends_on=date(2026, 12, 14),
                          created_at=datetime.now(timezone.utc), updated_at=datetime.now(timezone.utc))
    assert standing.dates_between(order, date(2026, 11, 1), date(2027, 1, 1)) == [
        date(2026, 12, 4), date(2026, 12, 7), date(2026, 12, 11), date(2026, 12, 14)]
    # London wall-clock time: 09:00 is 09:00 UTC in winter, 08:00 UTC in summer.
    assert standing.at_local(date(2026, 12, 4), "09:00", "Europe/London").hour == 9
    assert standing.at_local(date(2026, 7, 3), "09:00", "Europe/London").hour == 8


def test_an_order_without_a_route_drives_the_road_route_on_every_date(client, world, session):
    # Two Helsinki street corners (the embedded router's extract): every trip gets the same road route.
    resp = _create(client, world, pickup={"lat": 60.17952, "lon": 24.95058}, dropoff={"lat": 60.16562, "lon": 24.94067})
    assert resp.status_code == 201, resp.json
    made = [session.get(Trip, t) for t in resp.json["trips"]]
    assert made and all(len(t.route) > 2 for t in made)  # along the streets, not the straight line
    assert all(t.route == made[0].route for t in made)
    assert made[0].route[0] == pytest.approx([60.17952, 24.95058], abs=0.002)
