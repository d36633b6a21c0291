"""In a real browser: the coordinator opens a finished trip, plays the replay, the marker and the
timeline move with it, the charts render, and a note lands in the timeline."""

from __future__ import annotations

from tests.browser.conftest import login_page
from tests.dispatch.triplog_world import finished_trip
from tests.factories import PASSWORD


def current_item(page) -> str:
    """Return the text of the timeline item the replay is at."""
    return page.inner_text("#timeline li.current .tl-text")


def test_coordinator_replays_a_finished_trip(browser, live, world, session):
    trip, points = finished_trip(world, session)
    page = login_page(browser, live, "cora", PASSWORD)
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{live.url}/trips/{trip.id}")
    page.wait_for_function("() => document.getElementById('replay').dataset.ready === '1'")

    # The map: planned route, driven track, one off-route stretch, one stop, the marker.
    assert page.locator("path.planned-route").count() == 1
    assert page.locator("path.driven-track").count() == 1
    assert page.locator("path.off-route").count() == 1
    assert page.locator("path.stop-mark").count() == 1
    # The chart: a speed line with the stretch and the stop shaded, an alert dot.
    assert page.locator("#trip-chart polyline.speed-line").count() == 1
    assert page.locator("#trip-chart rect.shade.off-route").count() == 1
    assert page.locator("#trip-chart rect.shade.stop").count() == 1
    assert page.locator("#trip-chart circle.alert-dot").count() == 1
    points_attr = page.get_attribute("#trip-chart polyline.speed-line", "points")
    assert len(points_attr.split()) == len(points)
    assert "5 min 00 s" in page.inner_text("#trip-figures")  # the pickup, 5 minutes after the schedule

    # At the start: the first fix, and the timeline at the arrival at pickup.
    assert page.get_attribute("#replay", "data-index") == "0"
    marker_before = page.get_attribute("path.replay-marker", "d")
    cursor_before = page.get_attribute("#trip-chart .chart-cursor", "x1")
    assert current_item(page) == "Status en route pickup → arrived pickup by dan"
    assert page.locator("#timeline li.past").count() == 3

    page.select_option("#replay-speed", "300")
    page.click("#replay-play")
    assert page.inner_text("#replay-play") == "Pause"
    page.wait_for_function("() => Number(document.getElementById('replay').dataset.index) > 30")
    page.click("#replay-play")  # pause
    assert page.get_attribute("#replay", "data-playing") == "0"
    index = int(page.get_attribute("#replay", "data-index"))
    assert page.get_attribute("path.replay-marker", "d") != marker_before
    assert page.get_attribute("#trip-chart .chart-cursor", "x1") != cursor_before
    assert current_item(page) != "Status en route pickup → arrived pickup by dan"
    assert page.locator("#timeline li.past").count() > 3
    # Paused means paused.
    page.wait_for_timeout(300)
    assert int(page.get_attribute("#replay", "data-index")) == index

    # Dragging the slider to the end puts the marker on the last fix and the timeline at the drop-off.
    page.eval_on_selector("#replay-slider", "s => { s.value = s.max; s.dispatchEvent(new Event('input')); }")
    assert page.get_attribute("#replay", "data-index") == str(len(points) - 1)
    assert float(page.get_attribute("#replay", "data-lat")) == round(points[-1][1], 6)
    assert current_item(page) == "Status on board → arrived dropoff by dan"
    # Clicking a timeline item moves the replay to it.
    page.click("#timeline li:has-text('Check-in by eve')")
    assert current_item(page) == "Check-in by eve"
    assert page.get_attribute("#replay", "data-index") == "12"  # T0 + 60 s, one fix every 5 s

    page.fill("#note-text", "Checked with the family: all well.")
    page.click("#note-submit")
    page.wait_for_function("() => document.querySelector('#note-result').textContent === 'Added.'")
    assert page.locator("#timeline li.group-note").count() == 1
    assert "Note by cora: Checked with the family: all well." in page.inner_text("#timeline")
    assert errors == []


def test_the_trip_list_shows_the_period_chart(browser, live, world, session):
    trip, _ = finished_trip(world, session)
    page = login_page(browser, live, "cora", PASSWORD)
    page.goto(f"{live.url}/trips?from=2026-11-20&to=2026-11-20")
    assert page.locator("svg.period-chart polyline.rate-line.pickup").count() == 1
    assert page.locator("svg.period-chart rect.alerts-bar").count() == 1
    assert page.inner_text("#period-pickup-rate").startswith("100%")
    box = page.locator("svg.period-chart").bounding_box()
    assert box["width"] > 300 and box["height"] > 100  # drawn, not collapsed
    page.select_option("select[name=status]", "cancelled")  # filters apply as they change
    page.wait_for_url("**/trips?*status=cancelled*")
    assert page.locator(f"#trip-list tr[data-trip-id='{trip.id}']").count() == 0
    page.goto(f"{live.url}/trips?from=2026-11-20&to=2026-11-20")
    page.click(f"#trip-list tr[data-trip-id='{trip.id}'] td:nth-child(4)")
    page.wait_for_url(f"**/trips/{trip.id}")
