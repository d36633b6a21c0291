"""A panic queued on a shared tablet is raised as its own escort's, once, whoever sends it."""

from __future__ import annotations

import re
from datetime import timedelta

from sqlmodel import select

from app.db import utcnow
from app.models import AuditEvent
from dispatch import vouchers
from dispatch.models import Alert
from tests.factories import login
from tracking.models import Device


def _meta(html: str, name: str) -> str:
    """Return the content of the page's <meta name=...>."""
    match = re.search(rf'<meta name="{name}" content="([^"]+)"', html)
    assert match, f"no {name} meta on the page"
    return match.group(1)


def _escort_page(app, username: str):
    """Log an escort in and return their client and their tablet page's HTML."""
    client = login(app.test_client(), username)
    resp = client.get("/escort")
    assert resp.status_code == 200
    return client, resp.get_data(as_text=True)


def _panics(session) -> list[Alert]:
    """Return the panic alerts."""
    session.expire_all()
    return list(session.exec(select(Alert).where(Alert.kind == "panic")).all())


def test_a_panic_queued_by_eve_and_sent_from_emils_login_is_eves_once(app, world, session):
    _, eve_page = _escort_page(app, "eve")
    voucher = _meta(eve_page, "panic-voucher")
    emil, emil_page = _escort_page(app, "emil")
    headers = {"X-CSRFToken": _meta(emil_page, "csrf-token")}
    # A time safely past: a queued panic dated ahead of the server clock is raised at the server's now.
    ts = (utcnow() - timedelta(seconds=30)).replace(microsecond=123000).isoformat().replace("+00:00", "Z")
    body = {"voucher": voucher, "ts": ts, "lat": 51.501, "lon": -0.12, "user_id": world.users["escort2"].id}

    resp = emil.post("/api/v1/queued-panics", json=body, headers=headers)
    assert resp.status_code == 200 and resp.get_json() == {"ok": True}
    [alert] = _panics(session)
    eve_tablet = session.exec(select(Device).where(Device.label == "tablet:eve")).one()
    assert alert.device_id == eve_tablet.id and alert.trip_id == world.trip.id
    assert alert.detail["source"] == "queued"

    # Resolved, then the same queued panic sent again (its answer was lost): still one alert.
    alert.resolved_at, alert.open_key = utcnow(), None
    session.add(alert)
    session.commit()
    assert emil.post("/api/v1/queued-panics", json=body, headers=headers).status_code == 200
    assert len(_panics(session)) == 1
    lines = session.exec(select(AuditEvent).where(AuditEvent.action == "panic_queued")).all()
    assert [(e.username, e.detail["escort"], e.detail["replay"]) for e in lines] == [
        ("emil", "eve", False), ("emil", "eve", True)]


def test_the_voucher_alone_is_the_credential(app, world, session):
    _, eve_page = _escort_page(app, "eve")
    resp = app.test_client().post("/api/v1/queued-panics", json={"voucher": _meta(eve_page, "panic-voucher")})
    assert resp.status_code == 200
    assert [a.trip_id for a in _panics(session)] == [world.trip.id]


def test_forged_expired_or_missing_vouchers_are_refused_clearly(app, world, session):
    client = app.test_client()
    secret = app.config["SECRET_KEY"]
    good = vouchers.issue(secret, world.users["escort"].id)
    cases = [{"voucher": good[:-2] + "xx"}, {"voucher": vouchers.issue("another-secret-0123456789", world.users["escort"].id)},
             {"voucher": vouchers.issue(secret, world.users["dispatcher"].id)}, {"voucher": 12}, {}]
    for body in cases:
        resp = client.post("/api/v1/queued-panics", json=body)
        assert resp.status_code == 403 and "voucher" in resp.get_json()["error"], body
    bad = client.post("/api/v1/queued-panics", data="not json", content_type="application/json")
    assert bad.status_code == 400 and "error" in bad.get_json()
    assert _panics(session) == []
    try:
        vouchers.holder(secret, good, max_age_s=-1)
    except vouchers.VoucherError as exc:
        assert "expired" in str(exc)
    else:
        raise AssertionError("an expired voucher must be refused")


def test_a_tablet_socket_of_one_escort_is_refused_under_anothers_login(app, world):
    from app.realtime import socketio

    emil = login(app.test_client(), "emil")
    refused = socketio.test_client(app, namespace="/device", flask_test_client=emil,
                                   auth={"user_id": world.users["escort"].id})
    assert not refused.is_connected("/device")
    accepted = socketio.test_client(app, namespace="/device", flask_test_client=emil,
                                    auth={"user_id": world.users["escort2"].id})
    assert accepted.is_connected("/device")
    accepted.disconnect("/device")
