"""Role × endpoint: every route of the app, called by every kind of user, gets exactly what the
access table allows, and nothing about a patient leaks to someone who may not see them.

The table below is the contract. A new route that is not in it fails ``test_every_route_is_in_the_table``,
so nobody adds an endpoint without deciding who may call it.

Users: ``anon`` (no credentials); ``admin`` (ada); ``dispatcher`` (dan); ``escort`` (eve, whose
trip is under way with the world's patient); ``escort_other`` (emil, no trip with that patient);
``coordinator`` (cora, whose caseload holds the patient); ``coordinator_other`` (cody, an empty caseload).
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from sqlalchemy import func

from app.auth import create_api_token, create_user
from app.db import utcnow
from app.models import ApiToken, User
from dispatch.models import Alert, FlaggedPlace, HazardZone, LiveLink, StandingOrder
from tests.factories import PASSWORD, login

ROLES = ("anon", "admin", "dispatcher", "escort", "escort_other", "coordinator", "coordinator_other")
STAFF = {"admin", "dispatcher"}
SEES_PATIENT = STAFF | {"escort", "coordinator"}
WATCH = STAFF | {"coordinator"}
ALL_USERS = set(ROLES) - {"anon"}
PUBLIC = set(ROLES)

# endpoint → the roles that may use it (on the world's trip and patient, where the route names one).
TABLE: dict[str, set[str]] = {
    "auth.index": PUBLIC, "auth.login": PUBLIC, "auth.logout": PUBLIC, "healthz": PUBLIC, "metrics": PUBLIC,
    "auth.session_info": ALL_USERS,  # who am I: the session itself, nothing more
    "static": PUBLIC, "openapi.openapi_json": PUBLIC, "tracking.escort_service_worker": PUBLIC,
    "tracking.escort_manifest": PUBLIC,  # the tablet's web app manifest: names and icons only
    # Device endpoints take device credentials, never a user's: tested in tests/tracking.
    "tracking.post_fixes": set(), "tracking.osmand": set(), "tracking.owntracks": set(),
    # A queued panic's credential is the panic voucher of its escort's page, never the sender's login.
    "dispatch_api.queued_panic": set(),
    "admin.audit_page": {"admin"}, "admin_api.audit_api": {"admin"},
    "admin_api.list_users_api": {"admin"}, "admin_api.disable_user_api": {"admin"},
    "admin_api.enable_user_api": {"admin"}, "admin_api.reset_password_api": {"admin"},
    "admin_api.list_tokens_api": {"admin"}, "admin_api.revoke_token_api": {"admin"},
    "admin_api.list_devices_api": {"admin"}, "admin_api.revoke_device_api": {"admin"},
    "admin.users_page": {"admin"}, "admin.create_user_page": {"admin"}, "admin.user_page": {"admin"},
    "admin.disable_user_page": {"admin"}, "admin.enable_user_page": {"admin"},
    "admin.reset_password_page": {"admin"}, "admin.set_pins_page": {"admin"}, "admin.set_contact_page": {"admin"},
    "admin.create_token_page": {"admin"}, "admin.revoke_token_page": {"admin"},
    "admin.devices_page": {"admin"}, "admin.enrol_device_page": {"admin"}, "admin.revoke_device_page": {"admin"},
    "dispatch.live_map": STAFF,
    "dispatch.trip_page": SEES_PATIENT - {"escort"},
    "tracking.escort_page": {"escort", "escort_other"},
    "dispatch_api.list_alerts": WATCH | {"coordinator_other"},  # filtered to what each may see
    "dispatch_api.ack_alert": STAFF, "dispatch_api.resolve_alert": STAFF,
    "dispatch_api.create_flag": STAFF, "dispatch_api.list_flags": STAFF, "dispatch_api.retire_flag": STAFF,
    "dispatch_api.create_zone": STAFF, "dispatch_api.retire_zone": STAFF,
    "places_api.geocode": STAFF, "places_api.reverse": STAFF,  # addresses are planning work
    "dispatch_api.list_zones": WATCH | {"coordinator_other"},  # areas, no patient in them
    "patients_api.create_patient": STAFF, "patients_api.list_patients": STAFF,
    "patients_api.update_patient": STAFF,
    "patients_api.get_patient": SEES_PATIENT, "patients.sheet_page": SEES_PATIENT,
    # The list names patients (no sheet content); the forms create and change whole sheets.
    "patients.patient_list": STAFF, "patients.new_patient": STAFF, "patients.edit_patient": STAFF,
    "dispatch_api.create_trip": STAFF, "dispatch_api.put_route": STAFF, "dispatch_api.compute_route": STAFF,
    "dispatch_api.get_trip": WATCH,
    "dispatch_api.change_status": STAFF | {"escort"},
    "logs_api.list_trips_api": ALL_USERS,  # filtered to what each may see
    "logs.trip_list": ALL_USERS,
    "logs_api.trips_csv": WATCH | {"coordinator_other"}, "logs_api.period_figures_api": WATCH | {"coordinator_other"},
    "logs_api.timeline_api": SEES_PATIENT, "logs_api.replay_api": SEES_PATIENT,
    "logs_api.trip_figures_api": SEES_PATIENT, "logs_api.track_export": SEES_PATIENT,
    "logs.trip_log": SEES_PATIENT, "logs.trip_report": SEES_PATIENT,
    "logs_api.add_note": WATCH,
    # The line: coordinators read what was said; only the trip's escort and dispatch write and read receipts.
    "line_api.list_messages": SEES_PATIENT, "line_api.list_doses": SEES_PATIENT,
    "line_api.post_message": STAFF | {"escort"}, "line_api.read_messages": STAFF | {"escort"},
    "line_api.record_dose": STAFF | {"escort"},
    # The dispatcher's day (issue #14): planning is the dispatch office's, pages and API alike.
    "plan_api.patch_trip": STAFF, "plan_api.duplicate": STAFF, "plan_api.escorts": STAFF,
    "plan_api.create_standing_order": STAFF, "plan_api.list_standing_orders": STAFF,
    "plan_api.get_standing_order": STAFF, "plan_api.end_standing_order": STAFF, "plan_api.skip_standing_date": STAFF,
    "plan.board_page": STAFF, "plan.new_trip_page": STAFF, "plan.edit_trip_page": STAFF,
    "plan.reassign_action": STAFF, "plan.cancel_action": STAFF, "plan.duplicate_action": STAFF,
    "plan.standing_orders_page": STAFF, "plan.skip_order_date": STAFF, "plan.end_order": STAFF,
    # Responder links (issue #16): the dispatch office makes, lists and revokes them; escorts never learn of them.
    "live_api.create_link": STAFF, "live_api.list_links": STAFF, "live_api.revoke_link": STAFF,
    # The live page's credential is its link's token, never a login: tested in tests/dispatch/test_live_links.py.
    "live.live_page": set(), "live.live_position": set(),
    # Hazard zones and flagged places drawn on the map (issue #14): the dispatch office's, page and API alike.
    "places_admin.places_page": STAFF, "places_admin.create_zone_page": STAFF,
    "places_admin.update_zone_page": STAFF, "places_admin.retire_zone_page": STAFF,
    "places_admin.create_flag_page": STAFF, "places_admin.update_flag_page": STAFF,
    "places_admin.retire_flag_page": STAFF,
    "dispatch_api.patch_zone": STAFF, "dispatch_api.patch_flag": STAFF,
    # Places escorts report (issue #16): any escort reports on their own trip (checked in the view:
    # an empty body is refused first); only dispatch reads who reported and publishes or declines.
    "place_reports_api.report_place": {"escort", "escort_other"},
    "place_reports_api.my_reports": {"escort", "escort_other"},  # each their own reports only
    "place_reports_api.list_reports": STAFF, "place_reports_api.publish_place": STAFF,
    "place_reports_api.decline_place": STAFF,
    "place_reports.reports_page": STAFF, "place_reports.publish_page": STAFF, "place_reports.decline_page": STAFF,
}
# Refusals: 401/403 for a role, 404 for a trip or patient one may not know exists; login pages redirect.
DENIED = {401, 403, 404}


@pytest.fixture
def cast(app, world, session):
    """The world plus a coordinator with an empty caseload, an open alert, a zone and a flag."""
    now = utcnow()
    cody = create_user(session, "cody", "coordinator", PASSWORD, now=now)
    world.api_tokens["cody"] = create_api_token(session, cody, now=now)
    session.add(Alert(trip_id=world.trip.id, kind="stop", open_key=f"trip:{world.trip.id}:stop", raised_at=now,
                      updated_at=now, detail={"lat": 51.5007, "lon": -0.1246}))
    session.commit()
    return world


USERS = {"admin": "ada", "dispatcher": "dan", "escort": "eve", "escort_other": "emil", "coordinator": "cora",
         "coordinator_other": "cody"}


def _fresh_ids(world, session) -> dict:
    """Return ids for every URL variable; DELETE targets are made anew for each call."""
    now = utcnow()
    zone = HazardZone(name="z", ring=[[51.5, -0.1], [51.5, -0.09], [51.51, -0.09]], created_at=now, updated_at=now)
    flag = FlaggedPlace(label="f", category="other", reason="r", lat=51.5, lon=-0.1, radius_m=10,
                        expires_at=now + timedelta(days=1), created_at=now, updated_at=now)
    reported = FlaggedPlace(label="r", category="dog", reason="r", lat=51.5, lon=-0.1, radius_m=10, status="reported",
                            reported_by_id=world.users["escort"].id, expires_at=now + timedelta(days=1),
                            created_at=now, updated_at=now)
    session.add_all([zone, flag, reported])
    session.commit()
    from sqlmodel import select

    alert_id = session.exec(select(Alert.id).where(Alert.trip_id == world.trip.id)).first()
    # Offboarding targets: a user, token and device of their own, so a disable or revoke touches no cast member.
    from tracking.devices import create_device

    n = session.exec(select(func.count()).select_from(User)).one()
    victim = create_user(session, f"victim{n}", "escort", None, now=now)
    victim.locked_until = now + timedelta(minutes=5)  # so that enabling them is allowed
    create_api_token(session, victim, now=now)
    device, _ = create_device(session, f"victim-phone{n}", victim, now=now)
    session.commit()
    token_id = session.exec(select(ApiToken.id).where(ApiToken.user_id == victim.id)).one()
    order = StandingOrder(patient_id=world.patient.id, pickup_lat=51.5, pickup_lon=-0.1, pickup_radius_m=75,
                          dropoff_lat=51.51, dropoff_lon=-0.1, dropoff_radius_m=75, pickup_time="09:00", tz="UTC",
                          days=["mon"], starts_on=now.date(), ends_on=now.date() + timedelta(days=30),
                          created_at=now, updated_at=now)
    session.add(order)
    session.commit()
    link = LiveLink(token_hash=f"{n:064d}", alert_id=alert_id, trip_id=world.trip.id, created_at=now,
                    expires_at=now + timedelta(hours=1))  # a fresh one each call, so revoking it is allowed
    session.add(link)
    session.commit()
    return {"link_id": link.id, "token": "not-a-live-link-token", "order_id": order.id, "trip_id": world.trip.id, "patient_id": world.patient.id, "alert_id": alert_id, "zone_id": zone.id,
            "flag_id": flag.id, "place_id": reported.id, "fmt": "gpx", "filename": "css/app.css", "name": victim.username,
            "token_id": token_id, "device_id": device.id}


def _call(app, world, session, role: str, rule, method: str):
    """Call one route as one role with an empty body; return the response."""
    client = app.test_client()
    headers = {}
    if role != "anon":
        if rule.endpoint.startswith(("dispatch.", "logs.", "patients.", "admin.", "tracking.escort", "plan.",
                                         "places_admin.", "place_reports.")):
            login(client, USERS[role])  # pages ride on the login session
        else:
            headers = world.bearer(USERS[role])
    url = rule.build(_fresh_ids(world, session), append_unknown=False)[1]
    kwargs = {"headers": headers}
    if method in ("POST", "PUT", "PATCH"):
        kwargs["json"] = {}
        if not headers and role != "anon":
            from tests.factories import csrf_token

            kwargs["headers"] = {"X-CSRFToken": csrf_token(client)}
    return client.open(url, method=method, **kwargs)


def _routes(app):
    for rule in app.url_map.iter_rules():
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            yield rule, method


def test_every_route_is_in_the_table(app):
    missing = sorted({rule.endpoint for rule, _ in _routes(app)} - set(TABLE))
    assert missing == [], f"decide who may call these and add them to TABLE: {missing}"


@pytest.mark.parametrize("role", ROLES)  # a test per role, so the workers share the two thousand calls
def test_each_role_gets_exactly_what_the_table_allows(app, cast, session, role):
    wrong = []
    for rule, method in _routes(app):
        if not TABLE.get(rule.endpoint) and rule.endpoint.startswith("tracking."):
            continue  # device protocols: device credentials only (tests/tracking)
        resp = _call(app, cast, session, role, rule, method)
        body = resp.get_data(as_text=True)
        resp.close()  # file responses (static, the service worker) hold their file open until closed
        assert resp.status_code < 500, (rule.rule, method, role, body[:300])
        redirected_to_login = resp.status_code == 302 and "/login" in resp.headers.get("Location", "")
        allowed = role in TABLE[rule.endpoint]
        refused = resp.status_code in DENIED or (redirected_to_login and rule.endpoint != "auth.logout")
        if rule.endpoint in ("auth.index", "auth.logout") or rule.endpoint == "auth.login":
            refused = resp.status_code in DENIED
        if allowed == refused:
            wrong.append((method, rule.rule, role, resp.status_code, body[:120]))
        if role not in SEES_PATIENT:
            for secret in ("Pat Example", "+44 20 7946 0000"):
                assert secret not in body, (method, rule.rule, role, "leaks the patient")
    assert wrong == [], "\n".join(map(str, wrong))


def test_dispatch_namespace_admits_dispatchers_only(app, cast):
    from app.realtime import socketio

    for role in ROLES:
        auth = {"token": cast.api_tokens[USERS[role]]} if role != "anon" else None
        client = socketio.test_client(app, namespace="/dispatch", auth=auth)
        assert client.is_connected("/dispatch") == (role in STAFF), role
        if client.is_connected("/dispatch"):
            client.disconnect(namespace="/dispatch")


def test_device_namespace_takes_device_credentials_not_user_tokens(app, cast):
    from app.realtime import socketio

    for name in USERS.values():
        client = socketio.test_client(app, namespace="/device", auth={"token": cast.api_tokens[name]})
        assert not client.is_connected("/device"), name
    assert socketio.test_client(app, namespace="/device", auth={"token": cast.device_token}).is_connected("/device")


def test_escort_sockets_carry_only_their_own_trip(app, cast, session):
    """A status change on eve's trip reaches eve's tablet, not emil's."""
    from app.realtime import socketio

    eve_web, emil_web = app.test_client(), app.test_client()
    login(eve_web, "eve")
    login(emil_web, "emil")
    eve = socketio.test_client(app, namespace="/device", flask_test_client=eve_web)
    emil = socketio.test_client(app, namespace="/device", flask_test_client=emil_web)
    assert eve.is_connected("/device") and emil.is_connected("/device")
    eve.get_received("/device"), emil.get_received("/device")
    resp = app.test_client().post(f"/api/v1/trips/{cast.trip.id}/status", json={"status": "arrived_dropoff"},
                                  headers=cast.bearer("dan"))
    assert resp.status_code == 200
    assert any(m["name"] == "trip" for m in eve.get_received("/device"))
    assert "Pat Example" not in str(emil.get_received("/device"))
