"""In a real browser: the dispatcher sees an escort move; the escort presses through a trip."""

from __future__ import annotations

import requests

from tests.browser.conftest import login_page
from tests.factories import PASSWORD, fix_payload


def _send(live, world, seq: int, lat: float, lon: float) -> None:
    """Send one fix over HTTP as the trip's device."""
    resp = requests.post(f"{live.url}/api/v1/fixes", json=[fix_payload(seq, lat=lat, lon=lon)],
                         headers={"Authorization": f"Bearer {world.device_token}"}, timeout=5)
    assert resp.json()["accepted"] == [seq]


def _marker_latlng(page, trip_id: int):
    """Return the escort marker's [lat, lng] as Leaflet has it, or None."""
    return page.evaluate(
        "id => { const m = window.dispatchState && window.dispatchState.markers[id];"
        " return m ? [m.getLatLng().lat, m.getLatLng().lng] : null; }", trip_id)


def test_dispatcher_sees_a_marker_appear_and_move(browser, live, world):
    page = login_page(browser, live, "dan", PASSWORD)
    page.wait_for_selector(f"#trip-list li[data-trip-id='{world.trip.id}']")
    page.wait_for_function("() => document.querySelector('#conn-status').textContent.includes('live')")
    _send(live, world, 1, 51.5007, -0.1246)
    page.wait_for_selector(f"path.trip-{world.trip.id}", state="attached", timeout=5000)
    page.wait_for_function(f"() => window.dispatchState.markers[{world.trip.id}] !== undefined")
    first = _marker_latlng(page, world.trip.id)
    _send(live, world, 2, 51.5014, -0.1150)
    page.wait_for_function(
        f"() => Math.abs(window.dispatchState.markers[{world.trip.id}].getLatLng().lng - (-0.1150)) < 1e-6",
        timeout=5000)
    assert first == [51.5007, -0.1246]
    assert _marker_latlng(page, world.trip.id) == [51.5014, -0.1150]


def test_escort_presses_through_the_statuses(browser, live, world, session):
    trip = world.make_trip(status="assigned", device=None)
    world.trip.status = "completed"  # leave the escort one trip to work on
    session.add(world.trip)
    session.commit()
    page = login_page(browser, live, "eve", PASSWORD, geolocation={"latitude": 51.5007, "longitude": -0.1246},
                      permissions=["geolocation"])
    for status in ("en_route_pickup", "arrived_pickup", "on_board", "arrived_dropoff", "completed"):
        button = page.locator(f"#status-buttons button.status-btn[data-status='{status}']")
        button.click()
        page.wait_for_selector(f"#trip-status[data-status='{status}']", timeout=5000)
    session.expire_all()
    from dispatch.models import Trip

    assert session.get(Trip, trip.id).status == "completed"
    assert page.locator("#status-buttons button.status-btn").count() == 0
