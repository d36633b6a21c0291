"""Offboarding: disable, enable and reset users; list, expire and revoke API tokens; list and revoke devices.

By the CLI and by admins over the REST API, every action audited, every bad input one line
(or one JSON error) and a non-zero exit (or a 4xx).
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from click.testing import CliRunner
from sqlalchemy import update
from sqlmodel import Session, select

from app.cli import main
from app.db import utcnow
from app.models import ApiToken, AuditEvent, LoginSession, User
from tests.factories import PASSWORD, csrf_token, fix_payload, login


@pytest.fixture
def cli(app, monkeypatch, tmp_path):
    """Return a CLI runner on the app's database (the world is built on it)."""
    monkeypatch.setenv("DATABASE_URL", app.extensions["escort"].engine.url.render_as_string(hide_password=False))
    monkeypatch.setenv("ESCORT_INSTANCE_PATH", str(tmp_path))
    return CliRunner()


def _actions(session) -> list[str]:
    session.expire_all()
    return [e.action for e in session.exec(select(AuditEvent).order_by(AuditEvent.id)).all()]


def test_disable_enable_and_reset_by_the_cli(cli, app, world, session):
    web = login(app.test_client(), "dan")
    assert cli.invoke(main, ["users", "disable", "dan"]).exit_code == 0
    assert web.get("/dispatch").status_code == 302, "the open session ended"
    assert app.test_client().get("/api/v1/alerts", headers=world.bearer("dan")).status_code == 401
    fresh = app.test_client()
    refused = fresh.post("/login", data={"username": "dan", "password": PASSWORD, "csrf_token": csrf_token(fresh)})
    assert refused.status_code == 401
    assert cli.invoke(main, ["users", "enable", "dan"]).exit_code == 0
    assert app.test_client().get("/api/v1/alerts", headers=world.bearer("dan")).status_code == 200
    done = cli.invoke(main, ["users", "reset-password", "dan", "--password-stdin"], input="a-new-long-password\n")
    assert done.exit_code == 0, done.output
    login(app.test_client(), "dan", "a-new-long-password")
    assert [a for a in _actions(session) if a.startswith(("user_", "password"))] == [
        "user_disable", "user_enable", "password_reset"]
    events = session.exec(select(AuditEvent).where(AuditEvent.action == "user_disable")).all()
    assert events[0].detail == {"username": "dan", "sessions_ended": 1, "via": "cli"}


def test_logout_ends_only_this_session(app, world, session):
    desk, tablet = login(app.test_client(), "eve"), login(app.test_client(), "eve")
    desk.post("/logout", data={"csrf_token": csrf_token(desk)})
    assert desk.get("/escort").status_code == 302
    assert tablet.get("/escort").status_code == 200, "the escort's tablet stays logged in"
    reasons = sorted(str(r.ended_reason) for r in session.exec(select(LoginSession)).all())
    assert reasons == ["None", "logout"]


def test_a_second_login_in_one_browser_ends_the_first_session(app, world, session):
    web = login(app.test_client(), "dan")
    with web.session_transaction() as cookie:
        first = dict(cookie)
    login(web, "ada")
    copy = app.test_client()
    with copy.session_transaction() as cookie:
        cookie.update(first)
    assert copy.get("/dispatch").status_code == 302, "the replaced session is over"
    assert [r.ended_reason for r in session.exec(select(LoginSession).order_by(LoginSession.id)).all()] == [
        "replaced", None]


def test_tokens_list_expire_and_revoke_by_the_cli(cli, app, world, session):
    made = cli.invoke(main, ["tokens", "create", "dan", "--expires-days", "30"])
    assert made.exit_code == 0
    token = made.stdout.strip()
    assert app.test_client().get("/api/v1/alerts", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    listing = cli.invoke(main, ["tokens", "list", "dan"])
    lines = listing.stdout.strip().splitlines()
    assert lines[0].split("\t") == ["id", "user", "created", "last_used", "expires", "revoked"]
    newest = lines[-1].split("\t")
    assert newest[1] == "dan" and newest[3].endswith("Z") and newest[4].endswith("Z") and newest[5] == "-"
    assert cli.invoke(main, ["tokens", "revoke", newest[0]]).exit_code == 0
    assert app.test_client().get("/api/v1/alerts", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    assert "token_create" in _actions(session) and _actions(session)[-1] == "token_revoke"


def test_an_expired_token_is_refused(app, world, session):
    session.execute(update(ApiToken).values(expires_at=utcnow() - timedelta(seconds=1)))
    session.commit()
    assert app.test_client().get("/api/v1/alerts", headers=world.bearer("dan")).status_code == 401
    from app.realtime import socketio

    refused = socketio.test_client(app, namespace="/dispatch", auth={"token": world.api_tokens["dan"]})
    assert not refused.is_connected("/dispatch")


def test_token_last_use_is_written_at_most_once_a_minute(app, world, session):
    client = app.test_client()
    client.get("/api/v1/alerts", headers=world.bearer("dan"))
    session.expire_all()
    dan = session.exec(select(User).where(User.username == "dan")).one()
    [first] = session.exec(select(ApiToken.last_used_at).where(ApiToken.user_id == dan.id)).all()
    assert first is not None and utcnow() - first < timedelta(seconds=10)
    client.get("/api/v1/alerts", headers=world.bearer("dan"))
    session.expire_all()
    assert session.exec(select(ApiToken.last_used_at).where(ApiToken.user_id == dan.id)).one() == first


def test_devices_list_and_revoke_by_the_cli(cli, app, world):
    client = app.test_client()
    bearer = {"Authorization": f"Bearer {world.device_token}"}
    assert client.post("/api/v1/fixes", json=[fix_payload(1)], headers=bearer).status_code == 200
    listing = cli.invoke(main, ["devices", "list"]).stdout.splitlines()
    assert listing[0].split("\t") == ["id", "label", "escort", "last_seen", "revoked"]
    [row] = [line.split("\t") for line in listing if "\teve-phone\t" in line]
    assert row[2] == "eve" and row[3].endswith("Z") and row[4] == "-"
    assert cli.invoke(main, ["devices", "revoke", "eve-phone"]).exit_code == 0
    assert client.post("/api/v1/fixes", json=[fix_payload(2)], headers=bearer).status_code == 401
    from app.realtime import socketio

    assert not socketio.test_client(app, namespace="/device", auth={"token": world.device_token}).is_connected("/device")


@pytest.mark.parametrize("args,stdin,word", [
    (["users", "disable", "ghost"], "", "no user named"),
    (["users", "enable", "ada"], "", "already enabled"),
    (["users", "reset-password", "dan", "--password-stdin"], "short\n", "at least 8"),
    (["users", "reset-password", "ghost", "--password-stdin"], "long-enough-pw\n", "no user named"),
    (["users", "reset-password", "dan"], "", "--password-stdin"),
    (["tokens", "list", "ghost"], "", "no user named"),
    (["tokens", "revoke", "abc"], "", "token id"),
    (["tokens", "revoke", "99999"], "", "no API token"),
    (["tokens", "create", "dan", "--expires-days", "0"], "", "--expires-days"),
    (["devices", "revoke", "nope"], "", "no device"),
])
def test_offboarding_bad_input_is_one_line_and_non_zero(cli, world, args, stdin, word):
    result = cli.invoke(main, args, input=stdin)
    assert result.exit_code != 0
    assert word in result.output and len(result.output.strip().splitlines()) == 1, result.output


def test_cli_twice_is_a_clear_error(cli, world):
    assert cli.invoke(main, ["users", "disable", "dan"]).exit_code == 0
    again = cli.invoke(main, ["users", "disable", "dan"])
    assert again.exit_code == 1 and "already disabled" in again.output
    assert cli.invoke(main, ["devices", "revoke", "eve-phone"]).exit_code == 0
    twice = cli.invoke(main, ["devices", "revoke", "eve-phone"])
    assert twice.exit_code == 1 and "already revoked" in twice.output


def test_a_browser_tablet_has_no_token_to_revoke(cli, app, world):
    login(app.test_client(), "eve")
    from app.realtime import socketio

    web = login(app.test_client(), "eve")
    assert socketio.test_client(app, namespace="/device", flask_test_client=web).is_connected("/device")
    result = cli.invoke(main, ["devices", "revoke", "tablet:eve"])
    assert result.exit_code == 1 and "disable the escort" in result.output


def test_admins_offboard_over_the_api(app, world, session):
    api = app.test_client()
    admin = world.bearer("ada")
    users = api.get("/api/v1/users", headers=admin).json
    assert {u["username"] for u in users} >= {"ada", "dan", "eve"} and all("password_hash" not in u for u in users)
    web = login(app.test_client(), "dan")
    [dan] = [u for u in api.get("/api/v1/users", headers=admin).json if u["username"] == "dan"]
    assert dan["open_sessions"] == 1 and dan["active"] is True
    assert api.post("/api/v1/users/dan/disable", headers=admin).json == {"username": "dan", "active": False}
    assert web.get("/dispatch").status_code == 302
    assert api.post("/api/v1/users/dan/disable", headers=admin).status_code == 409
    assert api.post("/api/v1/users/ada/disable", headers=admin).status_code == 409, "not yourself"
    assert api.post("/api/v1/users/ghost/disable", headers=admin).status_code == 404
    assert api.post("/api/v1/users/dan/enable", headers=admin).status_code == 200
    short = api.post("/api/v1/users/dan/reset-password", json={"password": "x"}, headers=admin)
    assert short.status_code == 400 and "password" in short.json["error"]
    assert api.post("/api/v1/users/dan/reset-password", json={"password": "another-long-one"},
                    headers=admin).status_code == 200
    login(app.test_client(), "dan", "another-long-one")
    tokens = api.get("/api/v1/tokens?user=eve", headers=admin).json
    assert len(tokens) == 1 and "token_hash" not in tokens[0] and tokens[0]["user"] == "eve"
    assert api.post(f"/api/v1/tokens/{tokens[0]['id']}/revoke", headers=admin).status_code == 200
    assert api.post(f"/api/v1/tokens/{tokens[0]['id']}/revoke", headers=admin).status_code == 409
    assert api.get("/api/v1/alerts", headers=world.bearer("eve")).status_code == 401
    assert api.get("/api/v1/tokens?user=ghost", headers=admin).status_code == 404
    devices = api.get("/api/v1/devices", headers=admin).json
    [phone] = [d for d in devices if d["label"] == "eve-phone"]
    assert phone["escort"] == "eve" and phone["revoked_at"] is None
    assert api.post(f"/api/v1/devices/{phone['id']}/revoke", headers=admin).status_code == 200
    assert api.post("/api/v1/devices/99999/revoke", headers=admin).status_code == 404
    assert api.get("/api/v1/users", headers=world.bearer("dan")).status_code == 403
    actions = _actions(session)
    for action in ("user_disable", "user_enable", "password_reset", "token_revoke", "device_revoke"):
        assert action in actions, action
    with Session(app.extensions["escort"].engine) as s:
        by = s.exec(select(AuditEvent).where(AuditEvent.action == "device_revoke")).one()
        assert by.username == "ada" and by.detail["via"] == "api"


def test_a_disabled_escorts_tracker_is_refused_until_they_are_enabled(app, world):
    client = app.test_client()
    tracker = {"Authorization": f"Bearer {world.device_token}"}
    admin = world.bearer("ada")
    assert client.post("/api/v1/fixes", json=[fix_payload(1)], headers=tracker).status_code == 200
    assert client.post("/api/v1/users/eve/disable", headers=admin).status_code == 200
    refused = client.post("/api/v1/fixes", json=[fix_payload(2)], headers=tracker)
    assert refused.status_code == 401 and "error" in refused.get_json()
    assert client.post("/api/v1/users/eve/enable", headers=admin).status_code == 200
    assert client.post("/api/v1/fixes", json=[fix_payload(3)], headers=tracker).status_code == 200
