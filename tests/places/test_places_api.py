"""Addresses in and positions out over REST and in the sweep, against the real Nominatim."""

from __future__ import annotations

import re
from datetime import timedelta

from geopy.distance import great_circle
from sqlalchemy import text
from sqlmodel import Session, select

from app.db import utcnow
from dispatch import alerts, safety, scheduler
from dispatch.alert_places import fill_places
from dispatch.models import Alert, FlaggedPlace, Trip
from dispatch.notify import Channels
from patients.models import Patient
from places.models import PlaceCache
from places.nominatim import NominatimGeocoder
from tests.dispatch.test_safety import webhook_server  # noqa: F401  (a fixture)
from tests.factories import ROUTE, login
from tests.live import free_port

STATION = (60.1716, 24.9406)  # Kaivokatu 1, Helsinki: the central station
KAIVOKATU_8 = (60.16987, 24.94147)


def _trip_body(world, **over) -> dict:
    body = {"patient_id": world.patient.id, "escort": "eve",
            "pickup": {"address": "Kaivokatu 1, Helsinki", "radius_m": 40},
            "dropoff": {"lat": ROUTE[-1][0], "lon": ROUTE[-1][1]},
            "scheduled_pickup_at": (utcnow() + timedelta(hours=1)).isoformat()}
    body.update(over)
    return body


def _down(app) -> None:
    """Point the app at a geocoder where nothing listens."""
    app.extensions["escort"].geocoder = NominatimGeocoder(f"http://127.0.0.1:{free_port()}", timeout_s=2)


def test_dispatcher_gets_candidates_best_first(client, world):
    resp = client.get("/api/v1/geocode", query_string={"q": "Kaivokatu 1, Helsinki"}, headers=world.bearer("dan"))
    assert resp.status_code == 200, resp.json
    best = resp.json[0]
    assert set(best) == {"label", "lat", "lon"} and "Kaivokatu" in best["label"]
    assert great_circle((best["lat"], best["lon"]), STATION).meters < 150


def test_geocode_refuses_an_empty_query_and_other_roles(client, world):
    empty = client.get("/api/v1/geocode", query_string={"q": "   "}, headers=world.bearer("dan"))
    assert empty.status_code == 400 and "q is required" in empty.json["error"]
    assert client.get("/api/v1/geocode?q=Kaivokatu", headers=world.bearer("eve")).status_code == 403
    assert client.get("/api/v1/geocode?q=Kaivokatu").status_code == 401


def test_a_position_is_said_in_words_or_as_coordinates(client, world, session):
    near = client.get("/api/v1/reverse", query_string={"lat": KAIVOKATU_8[0], "lon": KAIVOKATU_8[1]},
                      headers=world.bearer("dan"))
    assert near.status_code == 200 and "Kaivokatu" in near.json["label"] and near.json["found"] is True
    sea = client.get("/api/v1/reverse?lat=-45&lon=-140", headers=world.bearer("dan"))
    assert sea.json == {"label": "-45.00000, -140.00000", "found": False}
    assert len(session.exec(select(PlaceCache)).all()) == 2  # both answers kept for every process
    bad = client.get("/api/v1/reverse?lat=91&lon=0", headers=world.bearer("dan"))
    assert bad.status_code == 400 and "lat" in bad.json["error"]


def test_a_geocoder_that_is_down_answers_503_with_what_to_do(app, client, world):
    _down(app)
    resp = client.get("/api/v1/geocode?q=Kaivokatu", headers=world.bearer("dan"))
    assert resp.status_code == 503 and "did not answer" in resp.json["error"]
    assert "by hand" in resp.json["error"]
    made = client.post("/api/v1/trips", json=_trip_body(world), headers=world.bearer("dan"))
    assert made.status_code == 503 and "lat and lon" in made.json["error"]


def test_a_trip_takes_an_address_for_its_pickup(client, world, session):
    resp = client.post("/api/v1/trips", json=_trip_body(world), headers=world.bearer("dan"))
    assert resp.status_code == 201, resp.json
    pickup = resp.json["pickup"]
    assert great_circle((pickup["lat"], pickup["lon"]), STATION).meters < 150 and pickup["radius_m"] == 40


def test_an_ambiguous_address_answers_its_candidates_and_stores_nothing(client, world, session):
    before = len(session.exec(select(Trip)).all())
    resp = client.post("/api/v1/trips", json=_trip_body(world, dropoff={"address": "Alepa, Helsinki"}),
                       headers=world.bearer("dan"))
    assert resp.status_code == 400 and resp.json["error"].startswith("dropoff: ")
    candidates = resp.json["candidates"]
    assert len(candidates) >= 2 and all("Alepa" in c["label"] for c in candidates)
    assert len(session.exec(select(Trip)).all()) == before


def test_an_address_nothing_matches_or_given_with_coordinates_is_refused(client, world):
    unknown = client.post("/api/v1/trips", json=_trip_body(
        world, allowed_stops=[{"address": "Nonexistent Streetname 99, Helsinki"}]), headers=world.bearer("dan"))
    assert unknown.status_code == 400 and "allowed_stops.0: no place found" in unknown.json["error"]
    both = client.post("/api/v1/trips", json=_trip_body(
        world, pickup={"address": "Kaivokatu 1", "lat": 60.17, "lon": 24.94}), headers=world.bearer("dan"))
    assert both.status_code == 400 and "not both" in both.json["error"]


def test_a_flagged_place_and_a_patients_home_take_addresses(client, world, session):
    flag = client.post("/api/v1/flagged-places", headers=world.bearer("dan"), json={
        "label": "Station taxi rank", "category": "unsafe_parking", "reason": "Buses only: stop round the corner.",
        "point": {"address": "Kaivokatu 1, Helsinki", "radius_m": 40},
        "expires_at": (utcnow() + timedelta(days=30)).isoformat()})
    assert flag.status_code == 201, flag.json
    stored = session.get(FlaggedPlace, flag.json["id"])
    assert great_circle((stored.lat, stored.lon), STATION).meters < 150
    made = client.post("/api/v1/patients", headers=world.bearer("dan"),
                       json={"name": "Helmi Esimerkki", "home": {"address": "Kaivokatu 1, Helsinki"}})
    assert made.status_code == 201, made.json
    home = made.json["home"]
    assert great_circle((home["lat"], home["lon"]), STATION).meters < 150
    assert "Kaivokatu" in made.json["home_address"]
    raw = session.connection().execute(text("SELECT details FROM patient WHERE id = :id"),
                                       {"id": made.json["id"]}).scalar_one()
    assert "Kaivokatu" not in raw and "60.17" not in raw  # the home and its position are sealed at rest


def test_the_sweep_says_where_alerts_happened(app, client, world, session):
    now = utcnow()
    panic = safety.panic(session, trip=world.trip, device_id=world.device.id, at=now, now=now,
                         lat=KAIVOKATU_8[0], lon=KAIVOKATU_8[1])
    quiet = world.make_trip(status="on_board", escort="emil", device=None)
    duress = safety.raise_duress(session, world.users["escort2"], quiet, now=now)  # no fix: no position
    session.commit()
    assert client.get("/api/v1/alerts?open=1", headers=world.bearer("dan")).json[0]["place"] is None  # not yet
    app.extensions["escort"].sweep_once(now)
    session.expire_all()
    assert "Kaivokatu" in session.get(Alert, panic.id).place
    assert session.get(Alert, duress.id).place == ""  # looked at once: no position to say
    listed = {a["kind"]: a for a in client.get("/api/v1/alerts?open=1", headers=world.bearer("dan")).json}
    assert "Kaivokatu" in listed["panic"]["place"] and listed["duress"]["place"] is None
    assert client.get("/api/v1/alerts?open=1", headers=world.bearer("eve")).status_code == 403
    timeline = client.get(f"/api/v1/trips/{world.trip.id}/timeline", headers=world.bearer("dan")).json["timeline"]
    [raised] = [e for e in timeline if e["kind"] == "alert_raised"]
    assert "Kaivokatu" in raised["place"]
    login(client, "dan")
    report = client.get(f"/trips/{world.trip.id}/report").get_data(as_text=True)
    assert report.count(listed["panic"]["place"]) == 2  # the alerts table and the timeline say where


def test_a_spot_is_asked_once_and_unknown_spots_are_coordinates(app, world, session):
    now = utcnow()
    first = safety.panic(session, trip=world.trip, device_id=world.device.id, at=now, now=now,
                         lat=KAIVOKATU_8[0], lon=KAIVOKATU_8[1])
    session.commit()
    app.extensions["escort"].sweep_once(now)
    session.expire_all()
    first = session.get(Alert, first.id)
    first.resolved_at, first.open_key = now, None
    session.add(first)
    _down(app)  # the same spot again: the cache answers, the geocoder is not asked
    again = safety.panic(session, trip=world.trip, device_id=world.device.id, at=now, now=now,
                         lat=KAIVOKATU_8[0] + 0.00001, lon=KAIVOKATU_8[1])
    stop = Alert(trip_id=world.trip.id, kind="stop", raised_at=now, updated_at=now, detail={"lat": -45.0, "lon": -140.0})
    session.add(stop)
    session.commit()
    app.extensions["escort"].sweep_once(now)
    session.expire_all()
    assert session.get(Alert, again.id).place == session.get(Alert, first.id).place
    assert session.get(Alert, stop.id).place is None  # the geocoder is down: tried again next sweep
    app.extensions["escort"].geocoder = NominatimGeocoder(world.app.extensions["escort"].config.geocoder_url)
    app.extensions["escort"].sweep_once(now)
    session.expire_all()
    assert session.get(Alert, stop.id).place == "-45.00000, -140.00000"  # the South Pacific: no address


def test_escalation_messages_say_where(app, world, session, webhook_server):  # noqa: F811
    hook_url, hooks = webhook_server
    now = utcnow()
    alert = safety.panic(session, trip=world.trip, device_id=world.device.id, at=now, now=now,
                         lat=KAIVOKATU_8[0], lon=KAIVOKATU_8[1])
    session.commit()
    scheduler.sweep(session, now=now + timedelta(seconds=130), channels=Channels(webhook_url=hook_url))
    assert hooks[0]["place"] == "60.16987, 24.94147"  # not described yet: its coordinates
    app.extensions["escort"].sweep_once(now + timedelta(seconds=131))
    session.expire_all()
    scheduler.sweep(session, now=now + timedelta(seconds=300), channels=Channels(webhook_url=hook_url))
    assert "Kaivokatu" in hooks[-1]["place"] and hooks[-1]["alert_id"] == alert.id


class _Meanwhile:
    """The app's own geocoder; while it works out its first answer, something else happens."""

    def __init__(self, real, meanwhile) -> None:
        self.real, self.meanwhile = real, meanwhile

    def search(self, query: str, *, limit: int = 5):
        """Search with the real geocoder."""
        return self.real.search(query, limit=limit)

    def reverse(self, lat: float, lon: float):
        """Let the other thing happen once, then answer with the real geocoder."""
        meanwhile, self.meanwhile = self.meanwhile, (lambda: None)
        meanwhile()
        return self.real.reverse(lat, lon)


def _panic_at_a_new_spot(session, world, now) -> Alert:
    # A spot nobody asked about yet, so the geocoder (not the cache) answers.
    alert = safety.panic(session, trip=world.trip, device_id=world.device.id, at=now, now=now,
                         lat=KAIVOKATU_8[0] + 0.0003, lon=KAIVOKATU_8[1] + 0.0003)
    session.commit()
    return alert


def test_an_alert_resolved_while_the_geocoder_answered_reaches_the_screens_as_resolved(app, world, session):
    now = utcnow()
    panic = _panic_at_a_new_spot(session, world, now)
    engine = app.extensions["escort"].engine

    def dispatcher_resolves():
        with Session(engine) as other:
            alert = other.get(Alert, panic.id)
            alert.acknowledged_at, alert.resolved_at, alert.open_key = now, now, None
            other.add(alert)
            other.commit()

    with Session(engine, expire_on_commit=False) as sweep:
        [told] = fill_places(sweep, _Meanwhile(app.extensions["escort"].geocoder, dispatcher_resolves), now=now)
    payload = alerts.public(told)
    assert payload["state"] == "resolved" and "Kaivokatu" in payload["place"]  # never "open" again on a screen


def test_two_processes_sweeping_describe_an_alert_once(app, world, session):
    now = utcnow()
    panic = _panic_at_a_new_spot(session, world, now)
    engine, geocoder = app.extensions["escort"].engine, app.extensions["escort"].geocoder
    by_other: list[Alert] = []

    def other_process_sweeps():
        with Session(engine, expire_on_commit=False) as other:
            by_other.extend(fill_places(other, geocoder, now=now))

    with Session(engine, expire_on_commit=False) as sweep:
        told = fill_places(sweep, _Meanwhile(geocoder, other_process_sweeps), now=now)
    assert [a.id for a in by_other] == [panic.id] and told == []  # one of them tells the screens, once
    session.expire_all()
    assert session.get(Alert, panic.id).place == by_other[0].place


def test_a_home_placed_by_position_gets_its_words_at_save_and_typed_words_stay(app, client, world, session):
    # Over REST, lat and lon only: the nearest address becomes the home's words.
    made = client.post("/api/v1/patients", headers=world.bearer("dan"),
                       json={"name": "Aino Esimerkki", "home": {"lat": KAIVOKATU_8[0], "lon": KAIVOKATU_8[1]}})
    assert made.status_code == 201, made.json
    assert "Kaivokatu" in made.json["home_address"]
    # Words the dispatcher typed (the flat, the buzzer) are never replaced, given now or kept.
    typed = client.post("/api/v1/patients", headers=world.bearer("dan"), json={
        "name": "Eino Esimerkki", "home_address": "Flat 3, buzzer 12", "home": {"lat": STATION[0], "lon": STATION[1]}})
    assert typed.json["home_address"] == "Flat 3, buzzer 12"
    moved = client.patch(f"/api/v1/patients/{typed.json['id']}", headers=world.bearer("dan"),
                         json={"home": {"lat": KAIVOKATU_8[0], "lon": KAIVOKATU_8[1]}})
    assert moved.status_code == 200 and moved.json["home_address"] == "Flat 3, buzzer 12"

    # The sheet form sent while its pin's own lookup had not answered: the address box is still empty.
    login(client, "dan")
    page = client.get("/patients/new")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True)).group(1)
    sent = client.post("/patients/new", data={
        "csrf_token": token, "name": "Helmi Pinned", "mobility": "ambulatory", "assistance": "curb_to_curb",
        "home_address": "", "home-lat": str(KAIVOKATU_8[0]), "home-lon": str(KAIVOKATU_8[1])})
    assert sent.status_code == 302, sent.get_data(as_text=True)[:2000]
    pinned = session.exec(select(Patient).where(Patient.name == "Helmi Pinned")).one()
    assert "Kaivokatu" in pinned.details["home_address"]


class _Broken:
    """A geocoder with a fault of its own (not an unanswered request): an engine that cannot load its data."""

    def search(self, query: str, *, limit: int = 5):
        """Fail."""
        raise RuntimeError("the address index could not be read")

    def reverse(self, lat: float, lon: float):
        """Fail."""
        raise RuntimeError("the address index could not be read")


def test_a_broken_geocoder_never_fails_a_save(app, client, world, session):
    app.extensions["escort"].geocoder = _Broken()
    made = client.post("/api/v1/patients", headers=world.bearer("dan"),
                       json={"name": "Aino Broken", "home": {"lat": KAIVOKATU_8[0], "lon": KAIVOKATU_8[1]}})
    assert made.status_code == 201, made.json
    assert made.json.get("home_address") is None and made.json["home"]["lat"] == KAIVOKATU_8[0]
    trip = client.post("/api/v1/trips", headers=world.bearer("dan"), json=_trip_body(world, pickup={
        "lat": STATION[0], "lon": STATION[1]}, dropoff={"lat": KAIVOKATU_8[0], "lon": KAIVOKATU_8[1]}))
    assert trip.status_code == 201, trip.json
    assert "the address lookup failed" in trip.json["geocoding"]["error"]
