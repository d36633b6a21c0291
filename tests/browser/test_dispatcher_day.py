"""In Chromium, through the pages only (the API only to seed and to check): plan a trip by map clicks,
assign and reassign it, watch it move on the board as the escort drives, make a standing order and skip a date."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import requests

from app.db import utcnow
from tests.browser.conftest import login_page
from tests.factories import PASSWORD, ROUTE, fix_payload


def _api(live, world, method: str, path: str, who: str = "dan", **kw):
    """Call the REST API as a user (to seed or to check, never as a step of the workflow)."""
    return requests.request(method, f"{live.url}{path}", headers=world.bearer(who), timeout=10, **kw)


def test_plan_a_trip_by_map_clicks_assign_and_reassign(browser, live, world):
    page = login_page(browser, live, "dan", PASSWORD)
    page.goto(f"{live.url}/dispatch/board")
    page.get_by_role("link", name="Plan a trip").click()
    page.get_by_label("Patient").fill(f"Pat Example (#{world.patient.id})")
    page.locator("#plan-map").scroll_into_view_if_needed()  # below the address searches
    box = page.locator("#plan-map").bounding_box()
    page.mouse.click(box["x"] + box["width"] * 0.3, box["y"] + box["height"] * 0.4)
    page.mouse.click(box["x"] + box["width"] * 0.7, box["y"] + box["height"] * 0.6)
    pickup_lat, dropoff_lat = page.get_by_label("Pickup latitude").input_value(), page.get_by_label("Drop-off latitude").input_value()
    assert pickup_lat and dropoff_lat and float(pickup_lat) > float(dropoff_lat)  # the first click was higher up
    assert "Drop-off set to" in page.locator("#map-said").inner_text()
    at = (utcnow() + timedelta(hours=3)).strftime("%Y-%m-%dT%H:%M")
    page.get_by_label("Pickup time (UTC)").fill(at)
    page.get_by_label("Escort", exact=True).select_option("emil")
    page.get_by_role("button", name="Plan trip").click()
    page.wait_for_url(re.compile(r"/dispatch/trips/\d+$"))
    trip_id = int(page.url.rsplit("/", 1)[1])
    assert f"Trip {trip_id} planned" in page.inner_text(".flashes")
    trip = _api(live, world, "GET", f"/api/v1/trips/{trip_id}").json()
    assert trip["escort"] == "emil" and trip["status"] == "assigned"
    assert trip["pickup"]["lat"] == pytest.approx(float(pickup_lat))

    # Reassign on the trip page: eve takes it over.
    page.get_by_label("New escort").select_option("eve")
    page.get_by_role("button", name="Reassign").click()
    page.wait_for_load_state("networkidle")
    assert f"Trip {trip_id} reassigned to eve" in page.inner_text(".flashes")
    assert _api(live, world, "GET", f"/api/v1/trips/{trip_id}").json()["escort"] == "eve"
    timeline = _api(live, world, "GET", f"/api/v1/trips/{trip_id}/timeline").json()["timeline"]
    assert any(item["text"] == "Escort emil → eve by dan" for item in timeline)

    # Cancel with a reason, from the same page.
    page.get_by_label("Reason for cancelling").fill("Patient admitted to hospital")
    page.get_by_role("button", name="Cancel trip").click()
    page.wait_for_load_state("networkidle")
    assert _api(live, world, "GET", f"/api/v1/trips/{trip_id}").json()["status"] == "cancelled"


def test_a_form_error_is_shown_at_its_field(browser, live, world):
    page = login_page(browser, live, "dan", PASSWORD)
    page.goto(f"{live.url}/dispatch/trips/new")
    page.get_by_label("Patient").fill("Nobody at all")
    page.get_by_label("Pickup latitude").fill("95")
    page.get_by_role("button", name="Plan trip").click()
    summary = page.get_by_role("alert")
    assert "There is a problem" in summary.inner_text()
    assert page.locator("#f-patient-error").inner_text().startswith("No patient called")
    assert "between -90 and 90" in page.locator("#f-pickup_lat-error").inner_text()
    assert page.get_by_label("Patient").input_value() == "Nobody at all"


def test_the_board_moves_a_trip_as_the_escort_drives_and_keeps_focus(browser, live, world):
    # The world's trip ends; eve's next trip is assigned for now.
    for status in ("arrived_dropoff", "completed"):
        _api(live, world, "POST", f"/api/v1/trips/{world.trip.id}/status", json={"status": status})
    body = {"patient_id": world.patient.id, "escort": "eve", "device_id": world.device.id,
            "pickup": {"lat": ROUTE[0][0], "lon": ROUTE[0][1]}, "dropoff": {"lat": ROUTE[-1][0], "lon": ROUTE[-1][1]},
            "route": {"type": "LineString", "coordinates": [[lon, lat] for lat, lon in ROUTE]},
            "scheduled_pickup_at": (utcnow() + timedelta(minutes=5)).isoformat()}
    trip_id = _api(live, world, "POST", "/api/v1/trips", json=body).json()["id"]
    for minutes in (3, 4, 6):  # neighbours in the same group: a row is placed among them in pickup order
        _api(live, world, "POST", "/api/v1/trips", json={**body, "escort": "emil", "device_id": None,
             "scheduled_pickup_at": (utcnow() + timedelta(minutes=minutes)).isoformat()})
    page = login_page(browser, live, "dan", PASSWORD)
    page.goto(f"{live.url}/dispatch")
    page.get_by_role("link", name="Today's board").click()
    page.wait_for_function("() => document.body.dataset.live === '1'", timeout=15000)
    row = page.locator(f"#board-trip-{trip_id}")
    assert page.locator("#group-assigned").locator(f"#board-trip-{trip_id}").count() == 1
    assert page.locator("#group-assigned tbody tr").count() == 4
    assert row.locator(".c-status").inner_text() == "Assigned"
    page.locator(f"#board-trip-{trip_id} .c-trip a").focus()

    # The escort sets off and drives (as the tablet would: status, then fixes from the device).
    _api(live, world, "POST", f"/api/v1/trips/{trip_id}/status", who="eve", json={"status": "en_route_pickup"})
    page.wait_for_function(f"() => document.querySelector('#group-under_way #board-trip-{trip_id}') !== null",
                           timeout=15000)
    assert row.locator(".c-status").inner_text() == "Driving to pickup"
    assert page.evaluate("() => document.activeElement.textContent") == f"Trip {trip_id}", "focus kept"
    for seq, (lat, lon) in enumerate(ROUTE[:3], start=1):
        requests.post(f"{live.url}/api/v1/fixes", json=[fix_payload(1000 + seq, lat=lat, lon=lon)],
                      headers={"Authorization": f"Bearer {world.device_token}"}, timeout=10)
    page.wait_for_function(f"() => document.querySelector('#board-trip-{trip_id} .c-last').textContent"
                           f".includes('{ROUTE[2][0]:.4f}')", timeout=15000)

    # Filters: by escort, by status, by text, all in place.
    page.get_by_label("Status").select_option(label="Done")
    assert row.is_hidden() and page.locator(f"#board-trip-{world.trip.id}").is_visible()
    page.get_by_label("Status").select_option(label="Any status")
    page.get_by_label("Search").fill("no such patient")
    assert row.is_hidden() and "0 of" in page.locator("#filter-count").inner_text()
    page.get_by_label("Search").fill("pat example")
    assert row.is_visible()


def test_create_a_standing_order_and_skip_one_date(browser, live, world):
    today = utcnow().date()
    page = login_page(browser, live, "dan", PASSWORD)
    page.goto(f"{live.url}/dispatch/board")
    page.get_by_role("link", name="Standing orders").click()
    page.get_by_label("Patient").fill(f"Pat Example (#{world.patient.id})")
    page.get_by_label("Pickup latitude").fill(str(ROUTE[0][0]))
    page.get_by_label("Pickup longitude").fill(str(ROUTE[0][1]))
    page.get_by_label("Drop-off latitude").fill(str(ROUTE[-1][0]))
    page.get_by_label("Drop-off longitude").fill(str(ROUTE[-1][1]))
    page.get_by_label("Pickup time (UTC)").fill("23:55")
    for day in ("Monday", "Wednesday", "Friday"):
        page.get_by_label(day).check()
    page.get_by_label("First date").fill((today + timedelta(days=1)).isoformat())
    page.get_by_label("Last date").fill((today + timedelta(days=91)).isoformat())
    page.get_by_label("Escort", exact=True).select_option("emil")
    page.get_by_role("button", name="Create standing order").click()
    page.wait_for_load_state("networkidle")
    assert "Standing order" in page.inner_text(".flashes") and "trips planned ahead" in page.inner_text(".flashes")
    orders = _api(live, world, "GET", "/api/v1/standing-orders").json()
    assert len(orders) == 1 and orders[0]["days"] == ["mon", "wed", "fri"] and len(orders[0]["trips"]) >= 11
    order = orders[0]
    first = order["dates"][0]

    page.get_by_label(f"Date to skip (order {order['id']})").select_option(first["date"])
    page.get_by_role("button", name="Skip date").click()
    page.wait_for_load_state("networkidle")
    assert "the other dates are unchanged" in page.inner_text(".flashes")
    assert f"{first['date']}: skipped" in page.locator(f"#order-{order['id']}").inner_text()
    after = _api(live, world, "GET", f"/api/v1/standing-orders/{order['id']}").json()
    assert after["dates"][0]["skipped"] is True and after["trips"] == order["trips"][1:]
    assert _api(live, world, "GET", f"/api/v1/trips/{first['trip_id']}").json()["status"] == "cancelled"


@pytest.mark.parametrize("name", ["eve", "cora"])
def test_escorts_and_coordinators_get_a_403_page_for_each_planning_page(browser, live, world, name):
    page = login_page(browser, live, name, PASSWORD)
    for path in ("/dispatch/board", "/dispatch/trips/new", f"/dispatch/trips/{world.trip.id}/edit",
                 "/dispatch/standing-orders"):
        resp = page.goto(f"{live.url}{path}")
        assert resp.status == 403, path
        assert page.locator("#error-page").is_visible()


def test_plan_a_trip_by_typing_the_addresses(browser, live, world):
    page = login_page(browser, live, "dan", PASSWORD)
    page.goto(f"{live.url}/dispatch/trips/new")
    page.get_by_label("Patient").fill(f"Pat Example (#{world.patient.id})")
    for words, address in (("Pickup", "Siltasaarenkatu 12"), ("Drop-off", "Bulevardi 15")):
        page.get_by_label(f"{words} address").fill(address)
        page.get_by_label(f"{words} address").press("Enter")  # searches; does not submit the form
        found = page.get_by_role("list", name=f"{words} places found").get_by_role("button")
        found.first.wait_for(timeout=15000)
        found.first.click()
        page.locator("#map-said").filter(has_text=f"{words} set to").wait_for(timeout=5000)
    assert 60.15 < float(page.get_by_label("Pickup latitude").input_value()) < 60.2
    page.get_by_label("Pickup time (UTC)").fill((utcnow() + timedelta(hours=3)).strftime("%Y-%m-%dT%H:%M"))
    page.get_by_label("Escort", exact=True).select_option("emil")
    page.get_by_role("button", name="Plan trip").click()
    page.wait_for_url(re.compile(r"/dispatch/trips/\d+$"))
    trip = _api(live, world, "GET", f"/api/v1/trips/{int(page.url.rsplit('/', 1)[1])}").json()
    assert "Siltasaarenkatu" in trip["pickup"]["address"] and "Bulevardi" in trip["dropoff"]["address"]
    assert trip["route_source"] and trip["route_source"].startswith("router:")  # typed places get a road route
