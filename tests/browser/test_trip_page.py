"""In a real browser: a dispatcher replaces a trip's planned route with a GPX file from the trip page."""

from __future__ import annotations

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
