"""Sessions: staff are logged out after inactivity (escorts are not); coordinators stay off the live feed."""

from __future__ import annotations

import pytest
from sqlmodel import select

from app.models import AuditEvent
from tests.factories import login


def _age_session(app, seconds: float) -> None:
    """Move every open login session's last request ``seconds`` into the past (the server keeps the clock)."""
    from datetime import timedelta

    from sqlalchemy import update
    from sqlmodel import Session

    from app.models import LoginSession

    with Session(app.extensions["escort"].engine) as s:
        for row in s.exec(select(LoginSession).where(LoginSession.ended_at.is_(None))).all():
            s.execute(update(LoginSession).where(LoginSession.id == row.id)
                      .values(last_seen_at=row.last_seen_at - timedelta(seconds=seconds)))
        s.commit()


def test_staff_are_logged_out_after_inactivity(client, world, session, app):
    idle = app.extensions["escort"].config.idle_logout_s
    login(client, "dan")
    assert client.get("/dispatch").status_code == 200
    _age_session(app, idle - 60)
    assert client.get("/dispatch").status_code == 200, "active within the limit: the clock restarts"
    _age_session(app, idle + 1)
    resp = client.get("/dispatch")
    assert resp.status_code == 302 and "/login" in resp.headers["Location"]
    assert client.get("/dispatch").status_code == 302, "really logged out"
    [event] = session.exec(select(AuditEvent).where(AuditEvent.action == "logout_idle")).all()
    assert event.username == "dan" and event.detail["idle_s"] > idle


def test_api_calls_on_an_idle_session_get_a_clear_401(client, world, app):
    login(client, "ada")
    _age_session(app, app.extensions["escort"].config.idle_logout_s + 5)
    resp = client.get("/api/v1/audit")
    assert resp.status_code == 401 and "inactivity" in resp.json["error"]


def test_escorts_tablet_is_never_logged_out_mid_trip(client, world, app):
    login(client, "eve")
    _age_session(app, 12 * 3600)
    assert client.get("/escort").status_code == 200


def test_coordinators_are_refused_on_the_live_feed(app, world, client):
    from app.realtime import socketio

    refused = socketio.test_client(app, namespace="/dispatch", auth={"token": world.api_tokens["cora"]})
    assert not refused.is_connected("/dispatch")
    allowed = socketio.test_client(app, namespace="/dispatch", auth={"token": world.api_tokens["dan"]})
    assert allowed.is_connected("/dispatch")
    login(client, "cora")
    assert client.get("/dispatch").status_code == 403


def test_serve_refuses_the_default_secret():
    import pytest

    from app.config import Config, ConfigError

    with pytest.raises(ConfigError, match="SECRET_KEY is not set"):
        Config(database_url="sqlite://", secret_key=None).require_secret()
    with pytest.raises(ConfigError, match="SECRET_KEY"):
        Config(database_url="sqlite://", secret_key="short").require_secret()


def test_behind_a_proxy_the_audit_log_records_the_real_client(tmp_path):
    from sqlmodel import Session

    from app import create_app
    from app.db import upgrade
    from tests.conftest import _reset_postgres, make_config
    from tests.factories import World

    app = create_app(make_config(tmp_path, proxy_count=1))
    engine = app.extensions["escort"].engine
    _reset_postgres(engine)
    upgrade(engine)
    with Session(engine, expire_on_commit=False) as session:
        world = World.build(app, session)
        client = app.test_client()
        client.get(f"/api/v1/patients/{world.patient.id}", headers={**world.bearer("dan"),
                                                                      "X-Forwarded-For": "203.0.113.7"})
        [read] = session.exec(select(AuditEvent).where(AuditEvent.action == "patient_read")).all()
        assert read.remote_addr == "203.0.113.7"
    engine.dispose()


@pytest.mark.parametrize("raw,expected", [(None, 0.1), ("0.25", 0.25)])
def test_positions_interval_from_the_environment(raw, expected):
    from app.config import Config

    env = {} if raw is None else {"ESCORT_POSITIONS_INTERVAL_S": raw}
    assert Config.from_env(env).positions_interval_s == expected


@pytest.mark.parametrize("raw", ["0", "-1", "soon"])
def test_a_positions_interval_that_cannot_work_is_refused_by_name(raw):
    from app.config import Config, ConfigError

    with pytest.raises(ConfigError, match="ESCORT_POSITIONS_INTERVAL_S"):
        Config.from_env({"ESCORT_POSITIONS_INTERVAL_S": raw})
