"""In a real browser: the board, the trip page and the live map change the ETA on a pushed position, no reload."""

from __future__ import annotations

from datetime import timedelta

import requests

from app.db import utcnow
from tests.browser.conftest import login_page
from tests.factories import PASSWORD, ROUTE, fix_payload
from tracking.geo import Route

ROUTE_LINE = Route(ROUTE)


def _drive(live, world, shares, first_seq: int, t0) -> None:
    """Send the trip's device to these shares of the route, 20 s apart from ``t0``."""
    body = [fix_payload(first_seq + i, *ROUTE_LINE.point_at(share * ROUTE_LINE.length_m),
                        ts=t0 + timedelta(seconds=20 * i)) for i, share in enumerate(shares)]
    resp = requests.post(f"{live.url}/api/v1/fixes", json=body,
                         headers={"Authorization": f"Bearer {world.device_token}"}, timeout=10)
    assert len(resp.json()["accepted"]) == len(shares), resp.text


def _text(page, selector: str) -> str:
    return page.locator(selector).inner_text()


def test_the_board_eta_changes_on_a_pushed_position_without_a_reload(browser, live, world):
    t0 = utcnow() - timedelta(seconds=120)
    _drive(live, world, [0.0, 0.05], 1, t0)
    page = login_page(browser, live, "dan", PASSWORD)
    page.goto(f"{live.url}/dispatch/board")
    cell = f"#board-trip-{world.trip.id} .c-eta"
    page.wait_for_function("() => document.body.dataset.live === '1'", timeout=10000)
    before = _text(page, cell)
    assert before.startswith("ETA ") and "(by road)" in before, before
    page.evaluate("() => { window.notReloaded = true; }")
    _drive(live, world, [0.5, 0.9, 0.99], 3, t0 + timedelta(seconds=60))  # most of the way: minutes sooner
    page.wait_for_function(f"(before) => document.querySelector('{cell}').textContent !== before", arg=before,
                           timeout=10000)
    assert page.evaluate("() => window.notReloaded === true")
    assert _text(page, cell).startswith("ETA ") and "(by road)" in _text(page, cell)


def test_the_trip_page_and_the_live_map_say_the_pushed_eta_and_km_left(browser, live, world):
    t0 = utcnow() - timedelta(seconds=120)
    _drive(live, world, [0.0, 0.05], 1, t0)
    trip_page = login_page(browser, live, "dan", PASSWORD)
    trip_page.goto(f"{live.url}/dispatch/trips/{world.trip.id}")
    first = _text(trip_page, "#trip-eta")
    assert "at drop-off" in first and "(by road)" in first, first
    live_map = login_page(browser, live, "dan", PASSWORD)  # the live map is the page after login
    eta = f"#trip-list li[data-trip-id='{world.trip.id}'] .eta"
    live_map.wait_for_function(f"() => /km left \\(by road\\)/.test(document.querySelector(\"{eta}\").textContent)",
                               timeout=10000)
    for page in (trip_page, live_map):
        page.evaluate("() => { window.notReloaded = true; }")
    trip_page.wait_for_timeout(500)  # the trip page's socket has joined by now
    _drive(live, world, [0.5, 0.9, 0.99], 3, t0 + timedelta(seconds=60))  # the map polls only every 5 minutes
    trip_page.wait_for_function("(first) => document.querySelector('#trip-eta').textContent !== first", arg=first,
                                timeout=10000)
    assert "0.0 km left (by road)" in _text(trip_page, "#trip-eta")
    live_map.wait_for_function(f"() => /0\\.0 km left \\(by road\\)/.test(document.querySelector(\"{eta}\").textContent)",
                               timeout=10000)
    for page in (trip_page, live_map):
        assert page.evaluate("() => window.notReloaded === true")
