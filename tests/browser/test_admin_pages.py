"""An admin runs people and devices from the browser: create an escort, PINs, contact, enrol and revoke a phone,
disable and enable a user, create and revoke an API token; found by role and label, checked over HTTP."""

from __future__ import annotations

import re

import numpy as np
import requests
import zxingcpp
from sqlmodel import select

from app.auth import check_secret
from app.models import AuditEvent, User
from tests.factories import PASSWORD, fix_payload

ZOE_PASSWORD = "zoe-initial-password"
# Draw the QR image on a canvas and return its grey levels, as a phone's camera would see it.
QR_PIXELS = """img => { const c = document.createElement('canvas'); c.width = img.naturalWidth; c.height = img.naturalHeight;
  const g = c.getContext('2d'); g.fillStyle = '#fff'; g.fillRect(0, 0, c.width, c.height); g.drawImage(img, 0, 0);
  const d = g.getImageData(0, 0, c.width, c.height).data; const out = [];
  for (let i = 0; i < d.length; i += 4) out.push(d[i]); return [c.width, c.height, out]; }"""


def _log_in(page, username: str, password: str = PASSWORD) -> None:
    """Log in through the form, found by its labels."""
    page.goto("/login")
    page.get_by_label("User name").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_load_state("load")


def _confirm(page, button: str, confirm: str) -> None:
    """Press an action's button, then confirm it on the confirm step."""
    page.get_by_role("button", name=button, exact=True).click()
    page.get_by_role("heading", level=1).wait_for()
    page.get_by_role("button", name=confirm, exact=True).click()
    page.wait_for_load_state("load")


def _qr_text(page) -> str:
    """Read the Traccar Client QR code on the page back into its text."""
    image = page.get_by_role("img", name=re.compile("QR code for Traccar Client"))
    assert image.evaluate("img => img.complete && img.naturalWidth > 0")
    width, height, grey = image.evaluate(QR_PIXELS)
    found = zxingcpp.read_barcode(np.array(grey, dtype=np.uint8).reshape(height, width))
    assert found is not None and found.valid, "the QR code does not decode"
    return found.text


def _user(session, name: str) -> User:
    session.expire_all()
    return session.exec(select(User).where(User.username == name)).one()


def test_an_admin_creates_an_escort_and_enrols_then_revokes_their_phone(browser, live, world, session):
    admin = browser.new_context(base_url=live.url).new_page()
    _log_in(admin, "ada")
    admin.get_by_role("link", name="Users").first.click()

    # A staff role without a password is refused, at the top and at the field, with the name kept.
    admin.get_by_label("User name (1 to 80 characters)").fill("zoe")
    admin.get_by_label("Role").select_option("admin")
    admin.get_by_role("button", name="Create user").click()
    summary = admin.get_by_role("alert")
    assert "needs an initial password" in summary.inner_text()
    assert "needs an initial password" in admin.locator("#password-error").inner_text()
    assert admin.get_by_label("User name (1 to 80 characters)").input_value() == "zoe"
    admin.get_by_label("Role").select_option("escort")
    admin.get_by_label("Initial password (at least 8 characters)").fill(ZOE_PASSWORD)
    admin.get_by_role("button", name="Create user").click()
    admin.get_by_role("heading", name=re.compile("zoe")).first.wait_for()
    assert _user(session, "zoe").role == "escort"

    # PINs: the same rules as `escort users set-pins`.
    admin.get_by_label("Safe PIN (4 to 8 digits)").fill("2468")
    admin.get_by_label("Duress PIN (4 to 8 digits, not the safe PIN)").fill("2468")
    admin.get_by_role("button", name="Set PINs").click()
    assert "must differ" in admin.get_by_role("alert").inner_text()
    assert "must differ" in admin.locator("#duress_pin-error").inner_text()
    admin.get_by_label("Safe PIN (4 to 8 digits)").fill("2468")
    admin.get_by_label("Duress PIN (4 to 8 digits, not the safe PIN)").fill("1357")
    admin.get_by_role("button", name="Set PINs").click()
    admin.get_by_text("PINs set for zoe.").wait_for()
    zoe = _user(session, "zoe")
    assert check_secret(zoe.safe_pin_hash, "2468") and check_secret(zoe.duress_pin_hash, "1357")

    admin.get_by_label("Emergency contact name").fill("Sam <b>Zed</b>")
    admin.get_by_label("Emergency contact e-mail").fill("sam@example.org")
    admin.get_by_label("Emergency contact phone").fill("+44 20 7946 0999")
    admin.get_by_role("button", name="Save contact details").click()
    admin.get_by_text("Contact details saved for zoe.").wait_for()
    assert admin.get_by_label("Emergency contact name").input_value() == "Sam <b>Zed</b>", "data as text"
    zoe = _user(session, "zoe")
    assert (zoe.emergency_contact_name, zoe.emergency_contact_email, zoe.emergency_contact_phone) == (
        "Sam <b>Zed</b>", "sam@example.org", "+44 20 7946 0999")

    # Enrol a phone for zoe: its token and the apps' settings are shown once.
    admin.get_by_role("link", name="Devices").first.click()
    admin.get_by_label("Label (1 to 80 characters, e.g. alice-phone)").fill("zoe-phone")
    admin.get_by_label("Escort who carries it").select_option("zoe")
    admin.get_by_role("button", name="Enrol device").click()
    admin.get_by_role("heading", name="Device zoe-phone enrolled").wait_for()
    token = admin.locator("#device-token").inner_text().strip()
    assert token.startswith("esd_")
    assert _qr_text(admin) == f"{live.url}/osmand?id={token}"
    assert admin.locator("#osmand-url").inner_text().startswith(f"{live.url}/osmand?app=osmand&id={token}&lat={{0}}")
    assert admin.locator("#gpslogger-url").inner_text().startswith(f"{live.url}/osmand?app=gpslogger&id={token}")
    assert admin.locator("#owntracks-url").inner_text() == f"{live.url}/owntracks"
    fixes = f"{live.url}/api/v1/fixes"
    zoe = _user(session, "zoe")
    zoe.on_duty = True  # zoe has no trip: on duty, her phone's positions are stored (off duty they are refused)
    session.add(zoe)
    session.commit()
    sent = requests.post(fixes, json=[fix_payload(1)], headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert sent.status_code == 200 and sent.json()["accepted"] == [1]

    admin.reload()
    assert admin.locator("#device-token").count() == 0, "the token is shown once"
    row = admin.get_by_role("row", name=re.compile("zoe-phone"))
    assert "zoe" in row.inner_text() and "active" in row.inner_text()

    _confirm(admin, "Revoke zoe-phone", "Revoke device zoe-phone")
    admin.get_by_text("Revoked device zoe-phone").wait_for()
    assert "revoked" in admin.get_by_role("row", name=re.compile("zoe-phone")).inner_text()
    refused = requests.post(fixes, json=[fix_payload(2)], headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert refused.status_code == 401
    session.expire_all()
    actions = [e.action for e in session.exec(select(AuditEvent).where(AuditEvent.user_id == world.users["admin"].id)
                                               .order_by(AuditEvent.id)).all()]
    assert [a for a in actions if a != "login"] == ["user_create", "pins_set", "user_contact", "device_create",
                                                   "device_revoke"]


def test_an_admin_disables_and_enables_a_user_and_revokes_an_api_token(browser, live, world, session):
    dan_context = browser.new_context(base_url=live.url)
    dan = dan_context.new_page()
    _log_in(dan, "dan")
    assert "/dispatch" in dan.url

    admin = browser.new_context(base_url=live.url).new_page()
    _log_in(admin, "ada")
    admin.goto("/admin/audit")
    admin.get_by_role("navigation", name="Administration").get_by_role("link", name="Users").click()
    admin.get_by_role("link", name="dan", exact=True).click()

    # An admin cannot disable themself: the service's refusal is shown.
    admin.goto("/admin/users/ada")
    _confirm(admin, "Disable ada", "Disable ada")
    assert "you cannot disable your own account" in admin.get_by_role("alert").inner_text()

    admin.goto("/admin/users/dan")
    _confirm(admin, "Disable dan", "Disable dan")
    admin.get_by_text("Disabled dan.").wait_for()
    assert "disabled" in admin.get_by_text(re.compile("Disabled:")).inner_text().lower()
    dan.reload()
    assert "/login" in dan.url, "dan's open session ended"
    _log_in(dan, "dan")
    assert "/login" in dan.url and "Wrong user name or password" in dan.get_by_role("alert").inner_text()

    _confirm(admin, "Enable dan", "Enable dan")
    admin.get_by_text("Enabled dan.").wait_for()
    _log_in(dan, "dan")
    assert "/dispatch" in dan.url

    # An API token: created with an expiry, shown once, then revoked.
    admin.get_by_label("Expires after (days)").fill("30")
    admin.get_by_role("button", name="Create API token").click()
    token = admin.locator("#new-api-token").inner_text().strip()
    assert token.startswith("esk_")
    who = f"{live.url}/api/v1/session"
    assert requests.get(who, headers={"Authorization": f"Bearer {token}"}, timeout=10).json()["user"] == "dan"
    token_id = admin.get_by_role("button", name=re.compile(r"^Revoke token \d+$")).last.inner_text().split()[-1]
    row = admin.get_by_role("row", name=re.compile(rf"^{token_id} "))
    assert "never" in row.inner_text() and "UTC" in row.inner_text(), "created, last used and expiry shown"
    _confirm(admin, f"Revoke token {token_id}", f"Revoke API token {token_id}")
    admin.get_by_text(f"Revoked API token {token_id} of dan.").wait_for()
    assert admin.locator("#new-api-token").count() == 0
    assert requests.get(who, headers={"Authorization": f"Bearer {token}"}, timeout=10).status_code == 401
    assert _user(session, "dan").is_active
