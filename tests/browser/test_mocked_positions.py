"""A position the phone marked as mocked is shown to the dispatcher as not to be trusted, in style and words."""

from __future__ import annotations

import json
import re
from datetime import timedelta

from sqlmodel import select, update

from app.db import utcnow
from tests.dispatch.triplog_world import finished_trip
from tests.factories import PASSWORD
from tracking.models import Fix

WORDS = "Mocked location — not to be trusted"
SOCKET_IO = re.compile(r".*/socket\.io/.*")


def _log_in(browser, live, username: str):
    """Open a new context and log in through the form, found by its labels."""
    context = browser.new_context(base_url=live.url)
    page = context.new_page()
    page.goto("/login")
    page.get_by_label("User name").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_load_state("networkidle")
    return page


def _fix(world, seconds_ago: float, **extra) -> dict:
    """Return a fix of the world's trip as the /dispatch positions message carries it."""
    ts = (utcnow() - timedelta(seconds=seconds_ago)).isoformat().replace("+00:00", "Z")
    return {"device_id": world.device.id, "trip_id": world.trip.id, "seq": int(1000 - seconds_ago),
            "lat": 51.5012, "lon": -0.1180, "ts": ts, "speed_mps": None, "heading_deg": None,
            "accuracy_m": 5, "battery_pct": None, **extra}


def test_live_map_marks_a_mocked_position_and_clears_it_on_a_real_one(browser, live, world):
    page = _log_in(browser, live, "dan")
    # The real server's socket, with positions messages added as the server sends them.
    routes = []

    def through(ws):
        ws.connect_to_server()
        routes.append(ws)

    page.route_web_socket(SOCKET_IO, through)
    page.reload()
    page.wait_for_function("() => document.querySelector('#conn-status').textContent.includes('live')")

    def positions(*fixes):
        routes[-1].send("42/dispatch," + json.dumps(["positions", {"fixes": list(fixes)}]))

    positions(_fix(world, 20, mock=True))
    marker = page.locator(f"path.trip-{world.trip.id}")
    page.wait_for_function(f"() => document.querySelector('path.trip-{world.trip.id}.mocked') !== null")
    assert marker.get_attribute("stroke-dasharray") == "3 3"
    row = page.locator(f"#trip-list li[data-trip-id='{world.trip.id}']")
    assert WORDS in row.inner_text()
    row.locator(".name").click()  # centres the marker and opens its tooltip
    tooltip = page.locator(".leaflet-tooltip")
    tooltip.wait_for()
    assert WORDS in tooltip.inner_text() and "Pat Example" in tooltip.inner_text()

    positions(_fix(world, 10))  # the phone's own GPS again: no mark
    page.wait_for_function(f"() => document.querySelector('path.trip-{world.trip.id}.mocked') === null")
    assert marker.get_attribute("stroke-dasharray") in (None, "", "none")
    assert WORDS not in row.inner_text()
    row.locator(".name").click()
    assert "Pat Example" in tooltip.inner_text() and WORDS not in tooltip.inner_text()


def test_trip_log_marks_mocked_stored_positions(browser, live, world, session):
    trip, _points = finished_trip(world, session)
    page = _log_in(browser, live, "dan")

    # The first half of the stored fixes as the phone marked them: mocked (the server keeps the mark).
    ids = sorted(session.exec(select(Fix.id).where(Fix.trip_id == trip.id)).all())
    session.exec(update(Fix).where(Fix.id.in_(ids[:len(ids) // 2])).values(mock=True))
    session.commit()
    page.goto(f"/trips/{trip.id}")
    page.wait_for_function("() => document.getElementById('replay').dataset.ready === '1'")
    assert WORDS in page.get_by_role("status").filter(has_text="positions").inner_text()
    assert page.locator("path.replay-marker.mocked").count() == 1
    assert WORDS in page.locator(".leaflet-tooltip.mocked, .leaflet-tooltip .mocked").first.inner_text()
    slider = page.get_by_label("Replay time")
    slider.evaluate("(el) => { el.value = el.max; el.dispatchEvent(new Event('input')); }")
    page.wait_for_function("() => document.getElementById('replay').dataset.mocked === '0'")
    assert page.locator("path.replay-marker.mocked").count() == 0
    page.locator(".leaflet-tooltip", has_text=WORDS).wait_for(state="detached")  # after Leaflet's fade
