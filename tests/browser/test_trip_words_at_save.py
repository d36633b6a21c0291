"""In Chromium: a trip form sent while a pin's address lookup is still under way is saved with the
address words all the same (the server finds them at save time), and with a geocoder that does not
answer the trip is saved by its coordinates and the page says so."""

from __future__ import annotations

import re
from datetime import timedelta

from playwright.sync_api import expect

from app.db import utcnow
from tests.browser.conftest import login_page
from tests.browser.test_place_pins import _api, _find
from tests.factories import PASSWORD
from tests.live import LiveServer, free_port


def test_a_form_sent_before_the_pins_lookup_answered_keeps_the_words(browser, live, world):
    page = login_page(browser, live, "dan", PASSWORD)
    page.goto(f"{live.url}/dispatch/trips/new")
    page.get_by_label("Patient").fill(f"Pat Example (#{world.patient.id})")
    _find(page, "Pickup", "Siltasaarenkatu 12")
    _find(page, "Drop-off", "Bulevardi 15")
    expect(page.locator("[data-end=dropoff] [data-chosen]")).to_contain_text("Bulevardi 15")
    page.get_by_label("Pickup time (UTC)").fill((utcnow() + timedelta(hours=3)).strftime("%Y-%m-%dT%H:%M"))

    # The network is slow: the reverse lookup the pin's move asks for is still under way when the
    # dispatcher sends the form (held here until then; the request itself is the page's own).
    held = []
    page.route("**/api/v1/reverse?*", lambda route: held.append(route))
    pin = page.get_by_role("button", name=re.compile("^Drop-off pin"))
    pin.focus()
    page.keyboard.press("Shift+ArrowUp")  # 50 m north
    expect(page.locator("[data-end=dropoff] [data-chosen]")).to_contain_text("Looking up the address")
    page.wait_for_timeout(600)  # the lookup is asked 400 ms after the pin rests: now it is in flight
    assert len(held) == 1 and page.locator("#f-dropoff_address").input_value() == ""
    moved = (float(page.get_by_label("Drop-off latitude", exact=True).input_value()),
             float(page.get_by_label("Drop-off longitude", exact=True).input_value()))
    page.get_by_role("button", name="Plan trip").click()
    page.wait_for_url(re.compile(r"/dispatch/trips/\d+$"))
    page.unroute("**/api/v1/reverse?*")  # the page that asked is gone

    trip = _api(live, world, f"/api/v1/trips/{int(page.url.rsplit('/', 1)[1])}")
    words = _api(live, world, "/api/v1/reverse", lat=moved[0], lon=moved[1])
    assert words["found"] and "Helsinki" in words["label"]
    assert (trip["dropoff"]["lat"], trip["dropoff"]["lon"]) == moved
    assert trip["dropoff"]["address"] == words["label"]  # not bare coordinates
    assert trip["pickup"]["address"].startswith("Siltasaarenkatu 12")
    expect(page.locator("#trip-places")).to_have_text(f"From {trip['pickup']['address']} to {words['label']}")
    assert "saved by coordinates" not in page.locator(".flashes").inner_text()


def test_with_the_geocoder_down_the_trip_is_saved_by_coordinates_and_the_page_says_so(browser, app, world, tmp_path):
    url = app.extensions["escort"].engine.url.render_as_string(hide_password=False)
    with LiveServer(url, tmp_path, ESCORT_GEOCODER_URL=f"http://127.0.0.1:{free_port()}") as live:
        page = login_page(browser, live, "dan", PASSWORD)
        page.goto(f"{live.url}/dispatch/trips/new")
        page.get_by_label("Patient").fill(f"Pat Example (#{world.patient.id})")
        for words, lat, lon in (("Pickup", "60.170000", "24.950000"), ("Drop-off", "60.165000", "24.940000")):
            page.get_by_label(f"{words} latitude", exact=True).fill(lat)
            page.get_by_label(f"{words} longitude", exact=True).fill(lon)
        page.get_by_label("Pickup time (UTC)").fill((utcnow() + timedelta(hours=3)).strftime("%Y-%m-%dT%H:%M"))
        page.get_by_role("button", name="Plan trip").click()
        page.wait_for_url(re.compile(r"/dispatch/trips/\d+$"))
        said = page.locator(".flashes").inner_text()
        assert "The address lookup did not answer" in said, said
        assert "the pickup and the drop-off are saved by coordinates" in said
        expect(page.locator("#trip-places")).to_have_text("From 60.17000, 24.95000 to 60.16500, 24.94000")
