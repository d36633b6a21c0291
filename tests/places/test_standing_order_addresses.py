"""Standing orders and allowed stops by address, against the embedded address index (no geocoder server):
the order keeps its places in words and every trip it makes carries them; allowed stops keep theirs;
the reverse lookup says when no address is known; the pages say "From … to …"."""

from __future__ import annotations

from datetime import timedelta

import pytest

from app.db import utcnow
from dispatch import standing
from dispatch.models import StandingOrder, Trip
from tests.conftest import _emptied_at_head, make_config
from tests.factories import csrf_token, login

PICKUP, DROPOFF, STOP = "Siltasaarenkatu 12, Helsinki", "Bulevardi 15, Helsinki", "Lönnrotinkatu 7, Helsinki"
STOP_WORDS = "Lönnrotinkatu 7, 00100 Helsinki"


@pytest.fixture
def app(tmp_path):
    """Return an app on a freshly migrated database with the embedded geocoder (no ESCORT_GEOCODER_URL)."""
    from app import create_app
    from app.db import upgrade

    app = create_app(make_config(tmp_path))
    engine = app.extensions["escort"].engine
    if not _emptied_at_head(engine):
        upgrade(engine)
    yield app
    engine.dispose()


def _order(world, **over) -> dict:
    """Return a standing order every day for a fortnight, its places by address."""
    today = utcnow().date()
    body = {"patient_id": world.patient.id, "escort": "emil", "pickup": {"address": PICKUP},
            "dropoff": {"address": DROPOFF}, "allowed_stops": [{"address": STOP, "radius_m": 40}],
            "pickup_time": "23:59", "days": list(standing.DAYS),
            "starts_on": today.isoformat(), "ends_on": (today + timedelta(days=60)).isoformat()}
    body.update(over)
    return body


def test_a_standing_order_by_address_keeps_the_words_and_every_trip_carries_them(client, world, session):
    dan = world.bearer("dan")
    resp = client.post("/api/v1/standing-orders", json=_order(world), headers=dan)
    assert resp.status_code == 201, resp.get_json()
    order = resp.get_json()
    assert order["pickup"]["address"].startswith("Siltasaarenkatu 12") and 60.15 < order["pickup"]["lat"] < 60.2
    assert order["dropoff"]["address"].startswith("Bulevardi 15")
    assert order["allowed_stops"] == [{"lat": pytest.approx(60.16641, abs=1e-4), "lon": pytest.approx(24.93819, abs=1e-4),
                                       "radius_m": 40.0, "address": STOP_WORDS}]
    assert len(order["trips"]) >= 27
    for trip_id in (order["trips"][0], order["trips"][-1]):
        trip = client.get(f"/api/v1/trips/{trip_id}", headers=dan).get_json()
        assert trip["pickup"]["address"] == order["pickup"]["address"]
        assert trip["dropoff"]["address"] == order["dropoff"]["address"]
        assert trip["allowed_stops"][0]["address"] == STOP_WORDS
        assert trip["places"] == f"From {order['pickup']['address']} to {order['dropoff']['address']}"

    # The dates the sweep makes later carry them too.
    made = standing.top_up(session, now=utcnow() + timedelta(days=10))
    assert made and all(t.pickup_address == order["pickup"]["address"] and
                        t.dropoff_address == order["dropoff"]["address"] for t in made)


def test_an_ambiguous_address_answers_its_candidates_and_makes_no_order(client, world, session):
    resp = client.post("/api/v1/standing-orders", json=_order(world, dropoff={"address": "Mannerheimintie"}),
                       headers=world.bearer("dan"))
    assert resp.status_code == 400
    body = resp.get_json()
    assert body["error"].startswith("dropoff:") and len(body["candidates"]) >= 2
    assert all({"label", "lat", "lon"} <= set(c) for c in body["candidates"])
    assert session.exec(StandingOrder.__table__.select()).first() is None


def test_an_address_nothing_matches_and_an_address_with_coordinates_are_refused(client, world):
    dan = world.bearer("dan")
    nowhere = client.post("/api/v1/standing-orders", json=_order(world, pickup={"address": "Nowhere Street 1"}),
                          headers=dan)
    assert nowhere.status_code == 400 and "no place found" in nowhere.get_json()["error"]
    both = client.post("/api/v1/standing-orders",
                       json=_order(world, pickup={"address": PICKUP, "lat": 60.1, "lon": 24.9}), headers=dan)
    assert both.status_code == 400 and "not both" in both.get_json()["error"]


def test_allowed_stops_by_address_on_a_new_trip_and_a_patch(client, world, session):
    dan = world.bearer("dan")
    body = {"patient_id": world.patient.id, "pickup": {"address": PICKUP}, "dropoff": {"address": DROPOFF},
            "allowed_stops": [{"address": STOP}, {"lat": 60.17, "lon": 24.94}],
            "scheduled_pickup_at": (utcnow() + timedelta(hours=2)).isoformat()}
    resp = client.post("/api/v1/trips", json=body, headers=dan)
    assert resp.status_code == 201, resp.get_json()
    trip = resp.get_json()
    assert trip["allowed_stops"][0]["address"] == STOP_WORDS
    # Given as coordinates: the words of that spot, found when the trip is saved.
    words = client.get("/api/v1/reverse", query_string={"lat": 60.17, "lon": 24.94}, headers=dan).get_json()
    assert words["found"] and trip["allowed_stops"][1]["address"] == words["label"]

    patched = client.patch(f"/api/v1/trips/{trip['id']}", headers=dan,
                           json={"allowed_stops": [{"address": "Bulevardi 15, Helsinki", "radius_m": 30}],
                                 "dropoff": {"address": STOP}})
    assert patched.status_code == 200, patched.get_json()
    after = patched.get_json()
    assert after["allowed_stops"] == [{"lat": pytest.approx(after["allowed_stops"][0]["lat"]),
                                       "lon": pytest.approx(after["allowed_stops"][0]["lon"]),
                                       "radius_m": 30.0, "address": trip["dropoff"]["address"]}]
    assert after["dropoff"]["address"] == STOP_WORDS
    assert after["dropoff"]["lat"] == pytest.approx(60.16641, abs=1e-4)

    ambiguous = client.patch(f"/api/v1/trips/{trip['id']}", headers=dan,
                             json={"allowed_stops": [{"address": "Mannerheimintie"}]})
    assert ambiguous.status_code == 400 and ambiguous.get_json()["error"].startswith("allowed_stops.0:")
    assert len(ambiguous.get_json()["candidates"]) >= 2
    session.expire_all()
    assert session.get(Trip, trip["id"]).allowed_stops[0]["address"] == trip["dropoff"]["address"]  # unchanged


def test_reverse_says_whether_an_address_is_known_there(client, world):
    dan = world.bearer("dan")
    known = client.get("/api/v1/reverse", query_string={"lat": 60.16642, "lon": 24.93820}, headers=dan).get_json()
    assert known == {"label": STOP_WORDS, "found": True}
    sea = client.get("/api/v1/reverse", query_string={"lat": 60.10, "lon": 24.90}, headers=dan).get_json()
    assert sea == {"label": "60.10000, 24.90000", "found": False}


def test_the_pages_say_from_where_to_where(app, client, world, session):
    dan = world.bearer("dan")
    order = client.post("/api/v1/standing-orders", json=_order(world), headers=dan).get_json()
    web = login(app.test_client(), "dan")
    listing = web.get("/dispatch/standing-orders").get_data(as_text=True)
    words = f"From {order['pickup']['address']} to {order['dropoff']['address']}"
    assert '<th scope="col">Places</th>' in listing and words in listing

    trip_id = order["trips"][0]
    assert words in web.get(f"/dispatch/trips/{trip_id}").get_data(as_text=True)
    day = session.get(Trip, trip_id).scheduled_pickup_at.date().isoformat()
    assert words in web.get("/dispatch/board", query_string={"date": day}).get_data(as_text=True)

    # A trip placed by coordinates says them.
    plain = world.make_trip(status="assigned", escort="emil")
    assert f"From {plain.pickup_lat:.5f}, {plain.pickup_lon:.5f} to" in web.get(f"/dispatch/trips/{plain.id}").get_data(as_text=True)


def test_the_standing_order_form_keeps_the_addresses_found_and_the_stops(app, world, session):
    web = login(app.test_client(), "dan")
    token = csrf_token(web)
    today = utcnow().date()
    form = {"patient": f"Pat Example (#{world.patient.id})", "pickup_lat": "60.18", "pickup_lon": "24.95",
            "pickup_address": "Siltasaarenkatu 12, 00530 Helsinki", "dropoff_lat": "60.165", "dropoff_lon": "24.94",
            "dropoff_address": "", "stop-3-lat": "60.16641", "stop-3-lon": "24.93819", "stop-3-address": STOP_WORDS,
            "stop-7-lat": "", "stop-7-lon": "", "stop-7-address": "",  # a row added and left empty
            "pickup_time": "23:59", "appointment_time": "", "starts_on": today.isoformat(),
            "ends_on": (today + timedelta(days=20)).isoformat(), "escort": "", "days": ["mon", "thu"],
            "csrf_token": token}
    bad = web.post("/dispatch/standing-orders", data={**form, "stop-7-lat": "61", "stop-7-lon": "east"})
    html = bad.get_data(as_text=True)
    assert bad.status_code == 400 and 'id="f-stop-7-lon-error"' in html and 'href="#f-stop-7-lon"' in html
    assert 'value="61"' in html and STOP_WORDS in html  # what was entered is kept, the stop's words too
    made = web.post("/dispatch/standing-orders", data=form)
    assert made.status_code == 302, made.get_data(as_text=True)[:2000]
    order = session.exec(StandingOrder.__table__.select()).first()
    assert order.pickup_address == "Siltasaarenkatu 12, 00530 Helsinki"
    # The drop-off's words had not come when the form was sent: found on saving.
    words = web.get("/api/v1/reverse", query_string={"lat": 60.165, "lon": 24.94}).get_json()
    assert words["found"] and order.dropoff_address == words["label"]
    assert order.allowed_stops == [{"lat": 60.16641, "lon": 24.93819, "radius_m": 75.0, "address": STOP_WORDS}]


def _inputs(html: str) -> dict[str, str]:
    """Return the named input fields of a page (text, number, hidden) with their values; the template's excepted."""
    from html.parser import HTMLParser

    found: dict[str, str] = {}

    class Inputs(HTMLParser):
        depth = 0

        def handle_starttag(self, tag, attrs):
            a = dict(attrs)
            self.depth += tag == "template"
            if tag == "input" and a.get("name") and not self.depth and a.get("type") not in ("radio", "checkbox"):
                found[a["name"]] = a.get("value") or ""

        def handle_endtag(self, tag):
            self.depth -= tag == "template"

    Inputs().feed(html)
    return found


def test_the_edit_form_shows_the_stops_with_their_words_and_keeps_them(app, client, world, session):
    body = {"patient_id": world.patient.id, "pickup": {"address": PICKUP}, "dropoff": {"address": DROPOFF},
            "allowed_stops": [{"address": STOP}], "scheduled_pickup_at": (utcnow() + timedelta(hours=2)).isoformat()}
    trip = client.post("/api/v1/trips", json=body, headers=world.bearer("dan")).get_json()
    web = login(app.test_client(), "dan")
    fields = _inputs(web.get(f"/dispatch/trips/{trip['id']}/edit").get_data(as_text=True))
    assert fields["stop-0-address"] == STOP_WORDS and float(fields["stop-0-lat"]) == trip["allowed_stops"][0]["lat"]
    assert fields["pickup_address"] == trip["pickup"]["address"]
    same = web.post(f"/dispatch/trips/{trip['id']}/edit", data={**fields, "csrf_token": csrf_token(web)})
    assert same.status_code == 302
    assert "nothing changed" in web.get(same.headers["Location"]).get_data(as_text=True)
    # The stop removed (its row gone from the form): the trip has none left.
    del fields["stop-0-lat"], fields["stop-0-lon"], fields["stop-0-address"]
    web.post(f"/dispatch/trips/{trip['id']}/edit", data={**fields, "csrf_token": csrf_token(web)})
    session.expire_all()
    assert session.get(Trip, trip["id"]).allowed_stops == []
    assert session.get(Trip, trip["id"]).pickup_address == trip["pickup"]["address"]
