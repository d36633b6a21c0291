"""The admin pages for people and devices: who may open them, what they refuse, what they audit, what they keep secret."""

from __future__ import annotations

import re

import pytest
from sqlmodel import select

from app.models import AuditEvent, User
from tests.factories import csrf_token, login
from tracking.models import Device, Fix

PAGES = ("/admin/users", "/admin/users/dan", "/admin/users/dan/disable", "/admin/devices")


@pytest.mark.parametrize("name", ["dan", "eve", "cora"])
def test_other_roles_get_a_403_page(app, world, name):
    web = login(app.test_client(), name)
    for url in PAGES:
        assert web.get(url).status_code == 403, url
    token = csrf_token(web)
    assert web.post("/admin/users", data={"username": "x", "role": "admin", "password": "a-long-password",
                                          "csrf_token": token}).status_code == 403
    assert web.post("/admin/users/dan/disable", data={"csrf_token": token}).status_code == 403
    assert web.post("/admin/devices", data={"label": "x", "csrf_token": token}).status_code == 403


def test_an_admin_cannot_disable_themself(app, world, session):
    web = login(app.test_client(), "ada")
    page = web.post("/admin/users/ada/disable", data={"csrf_token": csrf_token(web)})
    assert page.status_code == 409
    assert "you cannot disable your own account" in page.get_data(as_text=True)
    session.expire_all()
    assert session.exec(select(User).where(User.username == "ada")).one().is_active


def test_a_form_error_keeps_the_values_and_names_the_field(app, world):
    web = login(app.test_client(), "ada")
    page = web.post("/admin/devices", data={"label": "eve-phone", "escort": "eve", "csrf_token": csrf_token(web)})
    body = page.get_data(as_text=True)
    assert page.status_code == 400
    assert body.count("a device labelled &#39;eve-phone&#39; already exists") == 2, "at the top and at the field"
    assert 'id="label" name="label" type="text" value="eve-phone"' in body
    assert re.search(r'<option value="eve" selected>', body)
    page = web.post("/admin/users/dan/contact", data={"email": "not-an-address", "csrf_token": csrf_token(web)})
    assert page.status_code == 400 and 'value="not-an-address"' in page.get_data(as_text=True)
    page = web.post("/admin/users/dan/contact", data={"email": "x@y.org", "emergency_contact_name": "Ann",
                                                      "csrf_token": csrf_token(web)})
    assert page.status_code == 400 and "only escorts have an emergency contact" in page.get_data(as_text=True)


def test_every_action_is_audited_as_done_on_a_page(app, world, session):
    web = login(app.test_client(), "ada")
    token = csrf_token(web)
    steps = [("/admin/users", {"username": "zed", "role": "escort"}),
             ("/admin/users/zed/pins", {"safe_pin": "1234", "duress_pin": "5678"}),
             ("/admin/users/zed/contact", {"email": "zed@example.org", "emergency_contact_phone": "+44 1"}),
             ("/admin/users/zed/password", {"password": "zeds-first-password"}),
             ("/admin/users/zed/tokens", {"expires_days": "7"}),
             ("/admin/devices", {"label": "zed-phone", "escort": "zed"}),
             ("/admin/users/zed/disable", {}), ("/admin/users/zed/enable", {})]
    for url, form in steps:
        done = web.post(url, data={**form, "csrf_token": token})
        assert done.status_code == 302, (url, done.get_data(as_text=True)[:500])
    session.expire_all()
    events = session.exec(select(AuditEvent).where(AuditEvent.username == "ada", AuditEvent.action != "login")
                          .order_by(AuditEvent.id)).all()
    assert [e.action for e in events] == ["user_create", "pins_set", "user_contact", "password_reset", "token_create",
                                          "device_create", "user_disable", "user_enable"]
    assert {e.detail["via"] for e in events} == {"page"}
    assert "1234" not in str([e.detail for e in events]), "never the PINs"


def test_a_new_token_is_shown_once_and_never_in_clear_in_the_cookie(app, world):
    web = login(app.test_client(), "ada")
    made = web.post("/admin/devices", data={"label": "new-phone", "csrf_token": csrf_token(web)})
    assert made.status_code == 302
    held = app.session_interface.get_signing_serializer(app).loads(web.get_cookie("session").value)
    assert "shown_once" in held and "esd_" not in str(held), "sealed: the session cookie is signed, not secret"
    page = web.get("/admin/devices").get_data(as_text=True)
    assert re.search(r'id="device-token">esd_[^<]+<', page)
    image = re.search(r'<img class="qr" src="([^"]+)"', page).group(1)
    assert image.startswith("data:image/svg+xml"), "no URL carries the token (access logs would keep it)"
    assert "esd_" not in web.get("/admin/devices").get_data(as_text=True), "shown once"


def test_the_devices_page_shows_last_position_and_battery(app, world, session):
    from app.db import utcnow

    now = utcnow()
    device = session.exec(select(Device).where(Device.label == "eve-phone")).one()
    device.last_fix_at = now
    session.add(Fix(device_id=device.id, seq=1, ts=now, received_at=now, lat=51.5, lon=-0.12, battery_pct=64))
    session.add(Fix(device_id=device.id, seq=2, ts=now, received_at=now, lat=51.5, lon=-0.12))
    session.commit()
    row = re.search(r"<th scope=\"row\">eve-phone</th>(.*?)</tr>",
                    login(app.test_client(), "ada").get("/admin/devices").get_data(as_text=True), re.S).group(1)
    assert "<td>64</td>" in row and now.strftime("%Y-%m-%d %H:%M UTC") in row
