"""In a real browser: a dispatcher replaces a trip's planned route with a GPX file from the trip page."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.browser.conftest import login_page
from tests.dispatch.test_route_upload import GPX
from tests.factories import PASSWORD


def test_dispatcher_uploads_a_gpx_route_from_the_trip_page(browser, live, world, tmp_path):
    good = tmp_path / "planned.gpx"
    good.write_text(GPX)
    bad = tmp_path / "broken.gpx"
    bad.write_text("<gpx")
    page = login_page(browser, live, "dan", PASSWORD)
    page.goto(f"{live.url}/dispatch/trips/{world.trip.id}")
    assert page.inner_text("#route-points") == "5"
    page.set_input_files("#route-file", str(bad))
    page.click("#route-submit")
    page.wait_for_function("() => !document.querySelector('#route-result').textContent.startsWith('Uploading') && document.querySelector('#route-result').textContent.length > 0")
    assert page.get_attribute("#route-result", "class") == "error", page.inner_text("#route-result")
    assert "GPX" in page.inner_text("#route-result")
    page.set_input_files("#route-file", str(good))
    page.click("#route-submit")
    page.wait_for_function("() => document.querySelector('#route-result').textContent.includes('3 points')")
    assert page.inner_text("#route-points") == "3"
    assert page.locator("path.planned-route").count() == 1


def test_coordinators_see_the_trip_page_without_the_upload(browser, live, world):
    page = login_page(browser, live, "cora", PASSWORD)
    page.goto(f"{live.url}/dispatch/trips/{world.trip.id}")
    assert "Pat Example" in page.inner_text("main")
    assert page.locator("#route-form").count() == 0


def test_dispatcher_asks_for_the_road_route_and_reads_its_length_and_time(browser, live, world, client):
    station, lonnrotinkatu = (60.1712064, 24.9412091), (60.1664105, 24.9381917)
    straight = {"type": "LineString", "coordinates": [[station[1], station[0]], [lonnrotinkatu[1], lonnrotinkatu[0]]]}
    created = client.post("/api/v1/trips", headers=world.bearer("dan"), json={
        "patient_id": world.patient.id, "escort": "eve", "route": straight,
        "pickup": {"lat": station[0], "lon": station[1]}, "dropoff": {"lat": lonnrotinkatu[0], "lon": lonnrotinkatu[1]},
        "scheduled_pickup_at": "2026-12-01T10:00:00Z"}).json
    page = login_page(browser, live, "dan", PASSWORD)
    page.goto(f"{live.url}/dispatch/trips/{created['id']}")
    expect(page.locator("#route-points")).to_have_text("2")
    expect(page.locator("#route-summary")).to_have_text(" (uploaded)")
    assert "OpenStreetMap contributors, ODbL" in page.inner_text("main")
    button = page.get_by_role("button", name="Compute road route")
    button.focus()
    page.keyboard.press("Enter")
    result = page.locator("#route-compute-result")
    expect(result).to_contain_text("Road route computed:", timeout=60_000)
    expect(result).to_contain_text("min by road (embedded router)")
    assert int(page.inner_text("#route-points")) > 10
    assert "km, about" in page.inner_text("#route-summary")
    assert page.locator("path.planned-route").count() == 1


def test_a_trip_off_the_map_gets_the_routers_reason_in_words(browser, live, world):
    page = login_page(browser, live, "dan", PASSWORD)
    page.goto(f"{live.url}/dispatch/trips/{world.trip.id}")  # the factories' trip is in London
    page.get_by_role("button", name="Compute road route").click()
    result = page.locator("#route-compute-result")
    expect(result).to_contain_text("nearest road", timeout=60_000)
    expect(result).to_have_class("error")
    expect(page.locator("#route-points")).to_have_text("5")  # the planned route is kept
