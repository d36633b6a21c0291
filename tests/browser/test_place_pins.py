"""In Chromium, with the embedded address index: a place's pin is dragged with the mouse or moved by
keyboard, its latitude and longitude fields follow, and its address line is looked up again; allowed
stops are rows added and removed, each found by address; what is saved is the pins' positions."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import requests
from playwright.sync_api import expect

from app.db import utcnow
from tests.browser.conftest import login_page
from tests.factories import PASSWORD

STEP_DEG_LAT = 5 / 111320  # one arrow key: 5 m


def _api(live, world, path: str, **params) -> dict:
    """Return a GET of the API as the dispatcher."""
    resp = requests.get(f"{live.url}{path}", params=params, headers=world.bearer("dan"), timeout=15)
    assert resp.status_code == 200, resp.text
    return resp.json()


def _find(page, words: str, address: str) -> None:
    """Search an address in the block labelled ``words`` and choose the first place found."""
    box = page.get_by_label(f"{words} address", exact=True)
    box.fill(address)
    box.press("Enter")  # searches; does not submit the form
    found = page.get_by_role("list", name=re.compile(f"^{words} places found$|^Places found for {words.lower()}$"))
    found.get_by_role("button").first.wait_for(timeout=15000)
    found.get_by_role("button").first.click()


def _field(page, label: str) -> float:
    """Return a number field's value."""
    return float(page.get_by_label(label, exact=True).input_value())


def test_drag_a_pin_and_move_one_by_keyboard_then_add_and_remove_stops(browser, live, world):
    page = login_page(browser, live, "dan", PASSWORD)
    page.goto(f"{live.url}/dispatch/trips/new")
    page.get_by_label("Patient").fill(f"Pat Example (#{world.patient.id})")
    _find(page, "Pickup", "Siltasaarenkatu 12")
    chosen_pickup = page.locator("[data-end=pickup] [data-chosen]")
    expect(chosen_pickup).to_contain_text("Siltasaarenkatu 12")

    # Drag the pickup pin with the mouse: the fields take the pin's position, the address is looked up again.
    pin = page.get_by_role("button", name=re.compile("^Pickup pin"))
    pin.scroll_into_view_if_needed()
    before = (_field(page, "Pickup latitude"), _field(page, "Pickup longitude"))
    box = pin.bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + 30, y + 20, steps=5)
    page.mouse.move(x + 60, y + 40, steps=5)
    page.mouse.up()
    expect(chosen_pickup).not_to_contain_text("Looking up", timeout=10000)
    after = (_field(page, "Pickup latitude"), _field(page, "Pickup longitude"))
    assert after[0] < before[0] and after[1] > before[1]  # down and to the right on the map
    words = _api(live, world, "/api/v1/reverse", lat=after[0], lon=after[1])
    if words["found"]:
        expect(chosen_pickup).to_contain_text(words["label"])
        assert page.locator("#f-pickup_address").input_value() == words["label"]
    else:
        expect(chosen_pickup).to_contain_text("No address known here")
        assert page.locator("#f-pickup_address").input_value() == ""

    # Move the drop-off pin by keyboard: three steps north, one long step east.
    _find(page, "Drop-off", "Bulevardi 15")
    dropoff_pin = page.get_by_role("button", name=re.compile("^Drop-off pin"))
    dropoff_pin.focus()
    start = (_field(page, "Drop-off latitude"), _field(page, "Drop-off longitude"))
    for _ in range(3):
        page.keyboard.press("ArrowUp")
    page.keyboard.press("Shift+ArrowRight")
    expect(dropoff_pin).to_be_focused()
    moved = (_field(page, "Drop-off latitude"), _field(page, "Drop-off longitude"))
    assert moved[0] == pytest.approx(start[0] + 3 * STEP_DEG_LAT, abs=2e-6)
    assert moved[1] > start[1] + 0.0008  # 50 m east at 60° north is about 0.0009°
    chosen_dropoff = page.locator("[data-end=dropoff] [data-chosen]")
    expect(chosen_dropoff).not_to_contain_text("Looking up", timeout=10000)
    expect(chosen_dropoff).to_contain_text(f"{moved[0]:.5f}")

    # Typed coordinates move the pin too.
    pin_at = pin.bounding_box()
    page.get_by_label("Pickup latitude", exact=True).fill(f"{after[0] + 0.002:.6f}")
    page.wait_for_function("(y) => { const p = document.querySelector('.pin-pickup');"
                           " return p && p.getBoundingClientRect().y < y - 5; }", arg=pin_at["y"])
    page.get_by_label("Pickup latitude", exact=True).fill(f"{after[0]:.6f}")
    expect(chosen_pickup).not_to_contain_text("Looking up", timeout=10000)  # its address again

    # Allowed stops: one typed, one found by address; the first removed, the second renamed Stop 1.
    page.get_by_role("button", name="Add an allowed stop").click()
    expect(page.get_by_label("Stop 1 address", exact=True)).to_be_focused()
    page.get_by_label("Stop 1 latitude").fill("60.17")
    page.get_by_label("Stop 1 longitude").fill("24.94")
    page.get_by_role("button", name="Add an allowed stop").click()
    _find(page, "Stop 2", "Lönnrotinkatu 7")
    expect(page.get_by_label("Stop 2 latitude")).to_have_value(re.compile(r"^60\.166"))
    expect(page.get_by_role("button", name=re.compile("^Stop 2 pin"))).to_have_count(1)
    page.get_by_role("button", name="Remove stop 1").click()
    expect(page.get_by_role("button", name="Add an allowed stop")).to_be_focused()
    expect(page.get_by_label("Stop 1 latitude")).to_have_value(re.compile(r"^60\.166"))
    expect(page.get_by_role("button", name=re.compile("^Stop \\d pin"))).to_have_count(1)
    expect(page.get_by_label("Stop 2 latitude")).to_have_count(0)

    page.get_by_label("Pickup time (UTC)").fill((utcnow() + timedelta(hours=3)).strftime("%Y-%m-%dT%H:%M"))
    page.get_by_role("button", name="Plan trip").click()
    page.wait_for_url(re.compile(r"/dispatch/trips/\d+$"))
    trip = _api(live, world, f"/api/v1/trips/{int(page.url.rsplit('/', 1)[1])}")
    assert (trip["pickup"]["lat"], trip["pickup"]["lon"]) == pytest.approx(after, abs=1e-6)  # the pin's position
    assert (trip["dropoff"]["lat"], trip["dropoff"]["lon"]) == pytest.approx(moved, abs=1e-6)
    assert trip["pickup"]["address"] == (words["label"] if words["found"] else None)
    assert [s.get("address") for s in trip["allowed_stops"]] == ["Lönnrotinkatu 7, 00100 Helsinki"]
    expect(page.locator("#trip-places")).to_have_text(trip["places"])
    assert trip["places"].startswith("From ")


def test_the_patients_home_pin_moves_by_keyboard_and_is_saved(browser, live, world):
    page = login_page(browser, live, "dan", PASSWORD)
    page.goto(f"{live.url}/patients/new")
    who = page.get_by_role("group", name="Who")
    who.get_by_label("Name", exact=True).fill("Helmi Esimerkki")
    search = who.get_by_label("Find the home on the map")
    search.fill("Lönnrotinkatu 7")
    search.press("Enter")
    who.get_by_role("list", name="Places found").get_by_role("button").first.click()
    expect(who.get_by_label("Home latitude")).to_have_value(re.compile(r"^60\.166"))
    pin = page.get_by_role("button", name=re.compile("^Home pin"))
    pin.focus()
    start = _field(page, "Home latitude")
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowDown")
    moved = (_field(page, "Home latitude"), _field(page, "Home longitude"))
    assert moved[0] == pytest.approx(start - 2 * STEP_DEG_LAT, abs=2e-6)
    expect(page.locator("[data-end=home] [data-chosen]")).to_contain_text("Lönnrotinkatu 7", timeout=10000)
    page.get_by_role("button", name="Save patient").last.click()
    expect(page).to_have_url(re.compile(r"/patients/\d+$"))
    sheet = _api(live, world, f"/api/v1/patients/{int(page.url.rsplit('/', 1)[1])}")
    assert (sheet["home"]["lat"], sheet["home"]["lon"]) == pytest.approx(moved, abs=1e-6)
    assert sheet["home_address"] == "Lönnrotinkatu 7, 00100 Helsinki"  # filled once from the search
