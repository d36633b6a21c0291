"""The REST API fuzzed by schemathesis from its own /api/openapi.json: no 5xx, only documented answers, no garbage stored.

Every operation gets generated requests that fit the document (positive) and requests that
break it (negative), as a dispatcher and as an admin, with the device's credentials on the
device endpoints. Half the cases aim their path ids at rows that exist, so the handlers run
past their 404. After the run every stored trip, fix, zone, alert and patient must still be
something the API would have accepted. Regression tests for what the fuzzer found follow.
"""

from __future__ import annotations

import base64
import math
import traceback
from collections import Counter
from dataclasses import fields
from datetime import timedelta, timezone

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlmodel import func, select

from app.db import MAX_ROW_ID, utcnow
from app.models import ApiToken
from dispatch import alerts as alerts_mod
from dispatch import flags
from dispatch.models import Alert, HazardZone, Trip
from dispatch.settings import SAFETY_DEFAULTS, validate_settings
from dispatch.trips import STATUSES
from patients.models import Patient
from tracking.detectors import DetectionSettings
from tracking.models import Fix

# A pickup the trip window allows whenever the suite runs (within a year of now): tomorrow at 09:00 UTC.
TOMORROW_9 = (utcnow() + timedelta(days=1)).replace(hour=9, minute=0, second=0, microsecond=0)
TOMORROW_9Z = TOMORROW_9.isoformat().replace("+00:00", "Z")

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
# Examples per operation and generation mode: about 600 requests in all, some 25 s on SQLite here.
MAX_EXAMPLES = 10


def _in_range(lat, lon) -> bool:
    """Say whether a (lat, lon) pair is finite WGS84."""
    return (all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in (lat, lon))
            and -90 <= lat <= 90 and -180 <= lon <= 180)


def assert_no_garbage(session) -> None:
    """Check every stored trip, fix, zone, alert and patient against what the API accepts."""
    session.expire_all()
    for trip in session.exec(select(Trip)).all():
        assert trip.status in STATUSES, trip.status
        for lat, lon, radius in ((trip.pickup_lat, trip.pickup_lon, trip.pickup_radius_m),
                                 (trip.dropoff_lat, trip.dropoff_lon, trip.dropoff_radius_m)):
            assert _in_range(lat, lon) and 5 < radius <= 5000, (trip.id, lat, lon, radius)
        assert all(len(p) == 2 and _in_range(*p) for p in trip.route), trip.route
        assert len(trip.route) != 1, "a route has no point or at least two"
        assert all(_in_range(s["lat"], s["lon"]) for s in trip.allowed_stops), trip.allowed_stops
        assert validate_settings(trip.settings) == trip.settings, trip.settings
        assert trip.scheduled_pickup_at.utcoffset() == timedelta(0)
        assert session.get(Patient, trip.patient_id) is not None
    fixes = session.exec(select(Fix)).all()
    for fix in fixes:
        assert _in_range(fix.lat, fix.lon), (fix.seq, fix.lat, fix.lon)
        assert fix.ts.utcoffset() == timedelta(0) and fix.received_at.utcoffset() == timedelta(0)
    assert len({(f.device_id, f.seq) for f in fixes}) == len(fixes), "a (device, seq) stored twice"
    for zone in session.exec(select(HazardZone)).all():
        assert 1 <= len(zone.name) <= 120 and len(zone.ring) >= 3, (zone.name, zone.ring)
        assert all(_in_range(*p) for p in zone.ring), zone.ring
    for alert in session.exec(select(Alert)).all():
        assert alert.category in (None, *alerts_mod.CATEGORIES), alert.category
        assert (alert.resolved_at is None) == (alert.open_key is not None)
    for patient in session.exec(select(Patient)).all():
        assert patient.name.strip() and len(patient.name) <= 200, patient.name


@pytest.fixture
def fuzz_world(world, session):
    """The World, plus an open alert and a hazard zone for the fuzzer's path ids to find."""
    now = utcnow()
    alert, _ = alerts_mod.raise_alert(session, trip_id=world.trip.id, device_id=world.device.id, kind="stop",
                                      detail={}, at=now, now=now)
    zone = HazardZone(name="Closed bridge", ring=[[51.50, -0.12], [51.51, -0.12], [51.51, -0.11]],
                      created_at=now, updated_at=now)
    session.add(zone)
    flag = flags.create(session, label="12 Elm Road", category="dog", reason="loose dog in the yard",
                        point={"lat": 51.5012, "lon": -0.118, "radius_m": 30}, polygon=None,
                        expires_at=now + timedelta(days=30), user=world.users["dispatcher"], now=now)
    # Offboarding's targets: a user, token and device of their own (the cast is restored after each such call).
    from app.auth import create_api_token, create_user
    from tracking.devices import create_device

    victim = create_user(session, "victim", "escort", None, now=now)
    create_api_token(session, victim, now=now)
    device, _ = create_device(session, "victim-phone", victim, now=now)
    session.commit()
    token_id = session.exec(select(ApiToken.id).where(ApiToken.user_id == victim.id)).one()
    world.ids = {"trip_id": world.trip.id, "alert_id": alert.id, "zone_id": zone.id, "flag_id": flag.id,
                 "patient_id": world.patient.id, "name": "victim", "token_id": token_id, "device_id": device.id}
    return world


def _restore_cast(session) -> None:
    """Undo what an offboarding call did to anyone (the fuzzer's ids may name the cast's own tokens)."""
    from sqlalchemy import update

    from app.models import User
    from tracking.models import Device

    session.execute(update(ApiToken).values(revoked_at=None))
    session.execute(update(Device).values(revoked_at=None))
    session.execute(update(User).values(is_active=True))
    session.commit()


def _credentials(world, security: list, who: str) -> tuple[dict, dict]:
    """Return (headers, query) that carry the operation's credential for ``who``."""
    names = {name for requirement in security for name in requirement}
    if "deviceToken" in names:
        return {"Authorization": f"Bearer {world.device_token}"}, {}
    if "deviceBasic" in names:
        basic = base64.b64encode(f"{world.device.label}:{world.device_token}".encode()).decode()
        return {"Authorization": f"Basic {basic}"}, {}
    if "osmandId" in names:
        return {}, {"id": world.device_token}
    if "apiToken" in names:
        return world.bearer(who), {}
    return {}, {}


_UTC_TIMES = st.datetimes(timezones=st.just(timezone.utc)).map(lambda t: t.isoformat())
_DEGREES = st.floats(-200, 200, allow_nan=False)
_NUMBERS = st.one_of(st.floats(allow_nan=False, allow_infinity=False), st.integers(-10**20, 10**20))
_SETTING_KEYS = sorted({f.name for f in fields(DetectionSettings)} | set(SAFETY_DEFAULTS))


def _anchors(world) -> dict:
    """Body fields the fuzzer rarely hits by chance, drawn from what exists and from near-valid values.

    Random bodies stop at the first check (an unknown patient, a category that is no category).
    With these, half the cases reach the services behind the checks: trip creation with its
    route, settings and medication warnings, alert resolution, zone geometry.
    """
    points = st.lists(st.tuples(_DEGREES, _DEGREES).map(list), min_size=0, max_size=6)
    return {
        "patient_id": st.just(world.patient.id), "escort": st.sampled_from(["eve", "emil", "dan"]),
        "device_id": st.sampled_from([world.device.id, None]),
        "category": st.sampled_from(alerts_mod.CATEGORIES + flags.CATEGORIES),
        "route": points.map(lambda c: {"type": "LineString", "coordinates": c}),
        "coordinates": points,  # the body of PUT …/route is the LineString itself
        "polygon": points.map(lambda c: {"type": "Polygon", "coordinates": [c + c[:1]]}),
        "settings": st.dictionaries(st.sampled_from(_SETTING_KEYS), _NUMBERS, max_size=4),
        "scheduled_pickup_at": _UTC_TIMES, "appointment_at": _UTC_TIMES, "expires_at": _UTC_TIMES,
        "last_dose_at": _UTC_TIMES,
    }


def _anchor(body, anchors: dict, data) -> None:
    """Overwrite the anchor fields present in a JSON object body with drawn values."""
    if isinstance(body, dict):
        for key in sorted(body.keys() & anchors.keys()):
            if data.draw(st.booleans(), label=f"anchor {key}"):
                body[key] = data.draw(anchors[key], label=key)


def _has_inputs(operation) -> bool:
    """Say whether an operation takes anything a negative case could break."""
    return bool(list(operation.iter_parameters())) or operation.body is not None and len(operation.body) > 0


def _fuzz(operation, world, mode: GenerationMode, seen: Counter) -> None:
    """Run one operation's generated cases in one generation mode; raise on the first failure."""
    path_names = [p.name for p in operation.path_parameters]
    known = {name: world.ids[name] for name in path_names if name in world.ids}
    strategy = st.one_of(operation.as_strategy(generation_mode=mode),
                         operation.as_strategy(generation_mode=mode, path_parameters=known)) if known \
        else operation.as_strategy(generation_mode=mode)
    security = operation.definition.raw.get("security", [])
    anchors = _anchors(world)

    @settings(max_examples=MAX_EXAMPLES, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large,
                                     HealthCheck.function_scoped_fixture])
    @given(case=strategy, who=st.sampled_from(["dan", "ada"]), data=st.data())
    def run(case, who, data):
        if mode is GenerationMode.POSITIVE:
            _anchor(case.body, anchors, data)
        headers, query = _credentials(world, security, who)
        if query:
            case.query = {**(case.query or {}), **query}
        response = case.call(headers=headers)
        if "offboarding" in operation.definition.raw.get("tags", []):
            _restore_cast(world.session)
        seen[(operation.label, response.status_code)] += 1
        case.validate_response(response, checks=CHECKS, headers=headers)

    run()


def test_the_api_never_answers_5xx_nor_undocumented_and_stores_no_garbage(app, fuzz_world, session):
    schema = schemathesis.openapi.from_wsgi("/api/openapi.json", app)
    failures = []
    operations = 0
    seen: Counter = Counter()
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE) if _has_inputs(operation) else (
                GenerationMode.POSITIVE,):
            try:
                _fuzz(operation, fuzz_world, mode, seen)
            except (Exception, BaseExceptionGroup) as exc:  # noqa: BLE001  (collect every failure, report them all)
                # Where it was raised, too: a failure seen once in CI must be readable from its log.
                where = "".join(traceback.format_exception(exc)[-8:])
                failures.append(f"{operation.label} [{mode.value}]: {type(exc).__name__}: {exc}\n{where}"[:6000])
    for key, n in sorted(seen.items()):
        print(*key, n)
    assert operations >= 15
    assert not failures, "\n\n".join(failures)
    assert_no_garbage(session)


# --- regressions the fuzzer found -------------------------------------------------------------


@pytest.mark.parametrize("path", ["/api/v1/trips/99999999999999999999", "/api/v1/trips/2147483648",
                                  "/api/v1/patients/9223372036854775808", "/api/v1/trips/²"])
def test_an_id_beyond_a_row_id_is_404_not_a_driver_overflow(client, world, path):
    resp = client.get(path, headers=world.bearer("dan"))
    assert resp.status_code == 404 and "error" in resp.json


def test_alert_and_zone_ids_beyond_a_row_id_are_404(client, world):
    assert client.post("/api/v1/alerts/99999999999999999999/ack", headers=world.bearer("dan")).status_code == 404
    assert client.delete("/api/v1/hazard-zones/2147483648", headers=world.bearer("dan")).status_code == 404
    assert client.get(f"/api/v1/trips/{MAX_ROW_ID}", headers=world.bearer("dan")).status_code == 404


@pytest.mark.parametrize("trip_id", ["99999999999999999999", "²", "٣", "-1", "0", "1" * 5000])
def test_alerts_trip_id_that_is_no_row_id_is_a_400(client, world, trip_id):
    resp = client.get("/api/v1/alerts", query_string={"trip_id": trip_id}, headers=world.bearer("dan"))
    assert resp.status_code == 400 and "trip_id" in resp.json["error"]


def test_alerts_trip_id_filters_when_it_is_one(client, fuzz_world):
    resp = client.get("/api/v1/alerts", query_string={"trip_id": str(fuzz_world.trip.id)},
                      headers=fuzz_world.bearer("dan"))
    assert resp.status_code == 200 and [a["id"] for a in resp.json] == [fuzz_world.ids["alert_id"]]
    resp = client.get("/api/v1/alerts", query_string={"trip_id": str(fuzz_world.trip.id + 1)},
                      headers=fuzz_world.bearer("dan"))
    assert resp.status_code == 200 and resp.json == []


@pytest.mark.parametrize("field", ["patient_id", "device_id"])
def test_trip_with_an_id_beyond_a_row_id_is_a_400(client, world, session, field):
    body = {"patient_id": world.patient.id, "escort": "eve", "scheduled_pickup_at": TOMORROW_9Z,
            "pickup": {"lat": 51.5, "lon": -0.12}, "dropoff": {"lat": 51.51, "lon": -0.11}, field: 2**63}
    resp = client.post("/api/v1/trips", json=body, headers=world.bearer("dan"))
    assert resp.status_code == 400 and field in resp.json["error"]
    session.expire_all()
    assert session.exec(select(func.count()).select_from(Trip)).one() == 1


@pytest.mark.parametrize("when", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"])
def test_a_time_utc_cannot_hold_is_a_400_for_trips_and_zones(client, world, session, when):
    """Aware times that overflow once converted to UTC were a 500 (OverflowError at the database)."""
    trip = {"patient_id": world.patient.id, "escort": "eve", "scheduled_pickup_at": when,
            "pickup": {"lat": 51.5, "lon": -0.12}, "dropoff": {"lat": 51.51, "lon": -0.11}}
    resp = client.post("/api/v1/trips", json=trip, headers=world.bearer("dan"))
    assert resp.status_code == 400 and "scheduled_pickup_at" in resp.json["error"]
    trip["scheduled_pickup_at"], trip["appointment_at"] = TOMORROW_9Z, when
    resp = client.post("/api/v1/trips", json=trip, headers=world.bearer("dan"))
    assert resp.status_code == 400 and "appointment_at" in resp.json["error"]
    zone = {"name": "Closed road", "expires_at": when,
            "polygon": {"type": "Polygon", "coordinates": [[[-0.12, 51.5], [-0.12, 51.51], [-0.11, 51.51]]]}}
    resp = client.post("/api/v1/hazard-zones", json=zone, headers=world.bearer("dan"))
    assert resp.status_code == 400 and "expires_at" in resp.json["error"]
    session.expire_all()
    assert session.exec(select(func.count()).select_from(Trip)).one() == 1
    assert session.exec(select(func.count()).select_from(HazardZone)).one() == 0


def test_trip_times_with_an_offset_are_stored_in_utc(client, world):
    at_10_plus_2 = TOMORROW_9.replace(hour=10).isoformat().replace("+00:00", "+02:00")
    trip = {"patient_id": world.patient.id, "escort": "eve", "scheduled_pickup_at": at_10_plus_2,
            "pickup": {"lat": 51.5, "lon": -0.12}, "dropoff": {"lat": 51.51, "lon": -0.11}}
    resp = client.post("/api/v1/trips", json=trip, headers=world.bearer("dan"))
    assert resp.status_code == 201
    assert resp.json["scheduled_pickup_at"] == TOMORROW_9.replace(hour=8).isoformat().replace("+00:00", "Z")


NUL_BODIES = [
    ("/api/v1/patients", {"name": "Pat\x00"}),
    ("/api/v1/hazard-zones", {"name": "a\x00b", "polygon": {"type": "Polygon", "coordinates": [
        [[-0.12, 51.5], [-0.12, 51.51], [-0.11, 51.51]]]}}),
    ("/api/v1/trips", {"patient_id": 1, "escort": "e\x00ve", "scheduled_pickup_at": TOMORROW_9Z,
                       "pickup": {"lat": 51.5, "lon": -0.12}, "dropoff": {"lat": 51.51, "lon": -0.11}}),
    ("/api/v1/trips/1/notes", {"text": "a\x00"}),
    ("/api/v1/trips/1/notes", {"text": "ok", "\x00": 1}),
]


@pytest.mark.parametrize("path,body", NUL_BODIES, ids=[f"{p} {sorted(b)[0]}" for p, b in NUL_BODIES])
def test_a_nul_character_in_a_body_is_a_400(client, world, session, path, body):
    """PostgreSQL refuses NUL in text: these were 500s there (and stored as sent on SQLite)."""
    resp = client.post(path, json=body, headers=world.bearer("dan"))
    assert resp.status_code == 400 and "NUL" in resp.json["error"]
    session.expire_all()
    assert session.exec(select(func.count()).select_from(Patient)).one() == 1
    assert session.exec(select(func.count()).select_from(HazardZone)).one() == 0


@pytest.mark.parametrize("path,query", [("/api/v1/patients", {"q": "a\x00"}), ("/api/v1/trips", {"escort": "\x00"}),
                                        ("/api/v1/alerts", {"open": "1", "x\x00": "1"})])
def test_a_nul_character_in_the_query_is_a_400(client, world, path, query):
    resp = client.get(path, query_string=query, headers=world.bearer("dan"))
    assert resp.status_code == 400 and "NUL" in resp.json["error"]


def test_a_nul_character_in_the_login_form_is_a_400_not_a_500(client, world):
    from tests.factories import csrf_token

    resp = client.post("/login", data={"username": "ev\x00e", "password": "x", "csrf_token": csrf_token(client)})
    assert resp.status_code == 400, "a wrong login is a 401; this one must not reach the user lookup"


@pytest.mark.parametrize("path", ["/api/v1/patients", "/api/v1/fixes", "/osmand", "/owntracks"])
def test_json_nested_too_deeply_is_a_400_not_a_recursion_error(client, world, path):
    headers = {"Content-Type": "application/json", **world.bearer("dan")}
    if path == "/api/v1/fixes":
        headers["Authorization"] = f"Bearer {world.device_token}"
    if path == "/owntracks":
        token = base64.b64encode(f"{world.device.label}:{world.device_token}".encode()).decode()
        headers["Authorization"] = f"Basic {token}"
    # Deeper than the recursion limit, within the trackers' 64 KiB body limit.
    resp = client.post(path, data="[" * 30_000 + "]" * 30_000, headers=headers)
    assert resp.status_code == 400 and resp.json["error"]


@pytest.mark.parametrize("method", ["get", "patch"])
def test_a_patient_id_beyond_a_row_id_is_404_for_every_method_not_405(client, world, method):
    """werkzeug answered 405 for PATCH when the converter refused the id and GET's rule had the same path."""
    resp = getattr(client, method)("/api/v1/patients/27120871486333", json={}, headers=world.bearer("dan"))
    assert resp.status_code == 404 and "error" in resp.json


def test_a_patient_search_with_nul_is_a_documented_400(client, world):
    resp = client.get("/api/v1/patients", query_string={"q": "\x00ada"}, headers=world.bearer("dan"))
    assert resp.status_code == 400 and "NUL" in resp.json["error"]
    assert 400 in {int(code) for code in client.get("/api/openapi.json").json["paths"]["/api/v1/patients"]["get"]
                   ["responses"]}
