"""In Chromium: a dispatcher makes a responder link on the trip page; a responder opens it with no login and
watches the escort's marker move when a fix arrives; revoking the link ends the page."""

from __future__ import annotations

import re

import requests
from playwright.sync_api import expect

from app.db import utcnow
from dispatch.models import Alert
from tests.browser.conftest import login_page
from tests.factories import PASSWORD, ROUTE, fix_payload


def _send_fix(live, world, seq, lat, lon):
    resp = requests.post(f"{live.url}/api/v1/fixes", json=[fix_payload(seq, lat=lat, lon=lon)],
                         headers={"Authorization": f"Bearer {world.device_token}"}, timeout=5)
    assert resp.json()["accepted"] == [seq], resp.text


def test_a_responder_follows_the_escort_on_a_link_made_on_the_trip_page(browser, live, world, session):
    _send_fix(live, world, 1, ROUTE[1][0], ROUTE[1][1])
    now = utcnow()
    session.add(Alert(trip_id=world.trip.id, device_id=world.device.id, kind="panic",
                      open_key=f"trip:{world.trip.id}:panic", raised_at=now, updated_at=now,
                      detail={"lat": ROUTE[1][0], "lon": ROUTE[1][1]}))
    session.commit()

    dispatcher = login_page(browser, live, "dan", PASSWORD)
    dispatcher.goto(f"{live.url}/dispatch/trips/{world.trip.id}")
    panel = dispatcher.get_by_role("region", name="Responder links")
    panel.get_by_role("button", name="Create responder link").click()
    field = panel.get_by_label("Link to send (shown once: copy it now)")
    expect(field).to_have_value(re.compile(r"/live/[A-Za-z0-9_-]{43}$"))
    url = field.input_value()
    assert url.startswith(f"{live.url}/live/"), url
    expect(panel.get_by_role("button", name="Revoke link")).to_have_count(1)

    responder = browser.new_context().new_page()  # no login, no cookies
    resp = responder.goto(url)
    assert resp.status == 200 and resp.headers["referrer-policy"] == "no-referrer"
    expect(responder.get_by_role("heading", level=1)).to_contain_text("PANIC")
    assert "Pat Example" not in responder.inner_text("body")
    marker = responder.locator(".leaflet-marker-icon")
    expect(marker).to_have_attribute("data-lat", str(ROUTE[1][0]))

    _send_fix(live, world, 2, ROUTE[2][0], ROUTE[2][1])
    expect(marker).to_have_attribute("data-lat", str(ROUTE[2][0]), timeout=15_000)  # polled every 10 s
    expect(marker).to_have_attribute("data-lon", str(ROUTE[2][1]))
    expect(responder.get_by_role("status")).to_contain_text("Position updated")

    panel.get_by_role("button", name="Revoke link").click()
    expect(panel.get_by_text("revoked", exact=False).first).to_be_visible()
    expect(responder.get_by_role("status")).to_contain_text("This link has ended", timeout=15_000)
    assert responder.goto(url).status == 404
    expect(responder.get_by_role("heading", level=1)).to_contain_text("This live link is not available")
