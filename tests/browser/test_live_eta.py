"""In a real browser: the live map and the tablet say the live ETA in words; a GPX upload says what it used."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import requests

from app.db import utcnow
from tests.browser.conftest import login_page
from tests.factories import PASSWORD, ROUTE, fix_payload

ETA_WORDS = re.compile(r"ETA \d{1,2}[:.]\d{2}( [AP]M)? at drop-off, \d+(\.\d)? km left \((by road|straight line, no road route)\)")


def _drive(live, world) -> None:
    """Send the trip's device along the first fifth of the route, as its phone would."""
    start = utcnow() - timedelta(seconds=40)
    body = [fix_payload(i + 1, lat=ROUTE[0][0] + 0.0001 * i, lon=ROUTE[0][1] + 0.001 * i, ts=start + timedelta(seconds=10 * i))
            for i in range(4)]
    resp = requests.post(f"{live.url}/api/v1/fixes", json=body,
                         headers={"Authorization": f"Bearer {world.device_token}"}, timeout=10)
    assert len(resp.json()["accepted"]) == 4, resp.text


def test_the_live_map_lists_each_trips_eta_in_words(browser, live, world):
    _drive(live, world)
    page = login_page(browser, live, "dan", PASSWORD)
    row = page.get_by_role("listitem").filter(has_text="Pat Example")
    row.first.wait_for(timeout=10000)
    page.wait_for_function(f"() => /ETA/.test(document.querySelector(\"#trip-list li[data-trip-id='{world.trip.id}'] .eta\").textContent)",
                           timeout=10000)
    words = row.first.inner_text()
    assert ETA_WORDS.search(words), words


def test_the_tablet_says_the_eta_to_the_drop_off(browser, live, world):
    _drive(live, world)
    page = login_page(browser, live, "eve", PASSWORD)
    page.wait_for_selector("#trip-status[data-status='on_board']", timeout=10000)
    page.wait_for_function("() => document.querySelector('#trip-eta').textContent.length > 0", timeout=10000)
    assert ETA_WORDS.fullmatch(page.inner_text("#trip-eta")), page.inner_text("#trip-eta")


def test_a_gpx_of_several_tracks_is_uploaded_whole_and_the_page_says_so(browser, live, world):
    gpx = Path(__file__).parents[1] / "tracking" / "data" / "gpxpy" / "cerknicko-jezero.gpx"
    page = login_page(browser, live, "dan", PASSWORD)
    page.goto(f"{live.url}/dispatch/trips/{world.trip.id}")
    page.set_input_files("#route-file", str(gpx))
    page.click("#route-submit")
    page.wait_for_function("() => document.querySelector('#route-result').textContent.includes('joined')", timeout=10000)
    assert "joined 7 tracks, 296 points" in page.inner_text("#route-result")
    assert page.inner_text("#route-points") == "296"
