"""In Chromium: a dispatcher's open live map follows the hazard zones and flagged places another
dispatcher draws, edits and retires (on /admin/places or over REST), without a reload."""

from __future__ import annotations

from datetime import timedelta

import requests

from app.db import utcnow
from dispatch import present
from tests.browser.conftest import login_page
from tests.factories import PASSWORD


def _polite(page) -> str:
    return page.locator("#announce-polite").inner_text()


def _zone_name(page, zone_id: int) -> str | None:
    """Return the accessible name of a zone's shape on the live map (None when it is not drawn)."""
    shape = page.locator(f"#map path.zone-{zone_id}")
    return shape.get_attribute("aria-label") if shape.count() else None


def test_an_open_live_map_follows_zones_and_flags_changed_by_another_dispatcher(browser, live, world):
    dan = login_page(browser, live, "dan", PASSWORD)
    dan.goto(f"{live.url}/dispatch")
    dan.wait_for_function("() => document.querySelector('#conn-status').textContent.includes('live')")
    assert dan.locator("#map path.hazard-zone").count() == 0
    dan.get_by_text("Hazard zones and flagged places on the map (0)").click()  # open the list in words
    places = dan.get_by_role("list", name="Hazard zones and flagged places in force")
    assert places.inner_text() == "No hazard zones or flagged places in force"
    dan.evaluate("() => { window.loadedOnce = true; }")  # gone if the page reloads

    # Ada draws a zone on the places page (typing its corners) in her own browser.
    ada = login_page(browser, live, "ada", PASSWORD)
    ada.goto(f"{live.url}/admin/places")
    ada.wait_for_load_state("networkidle")
    new_zone = ada.locator("form[data-form='zone-new']")
    ada.get_by_text("Add a hazard zone", exact=True).click()
    new_zone.get_by_label("Name", exact=True).fill("Closed road")
    new_zone.get_by_label("Reason (optional)").fill("Gas main repair")
    new_zone.get_by_label("Corners", exact=False).fill("51.5000, -0.1300\n51.5000, -0.1200\n51.5080, -0.1200")
    new_zone.get_by_role("button", name="Add hazard zone").click()
    ada.wait_for_load_state("networkidle")
    assert "Hazard zone “Closed road” added" in ada.locator(".flashes").inner_text()
    zone_id = int(ada.locator("li.zone-item").first.get_attribute("data-zone"))

    # Dan's map draws it, names it, lists it and says so.
    dan.wait_for_selector(f"#map path.zone-{zone_id}", state="attached", timeout=5000)
    assert _zone_name(dan, zone_id) == "Hazard zone: Closed road"
    assert places.inner_text() == "Hazard zone: Closed road — Gas main repair"
    assert "Hazard zones and flagged places on the map (1)" in dan.locator("#places-on-map summary").inner_text()
    dan.wait_for_function("() => document.querySelector('#announce-polite').textContent.includes('added')")
    assert _polite(dan) == "Hazard zone: Closed road added (on the map)."

    # Over REST, Ada renames it and moves a corner: the shape and its words change in place.
    before = dan.locator(f"#map path.zone-{zone_id}").get_attribute("d")
    square = [[-0.1300, 51.5000], [-0.1100, 51.5000], [-0.1100, 51.5100], [-0.1300, 51.5100], [-0.1300, 51.5000]]
    resp = requests.patch(f"{live.url}/api/v1/hazard-zones/{zone_id}", headers=world.bearer("ada"), timeout=5,
                          json={"name": "Closed road and bridge", "polygon": {"type": "Polygon", "coordinates": [square]}})
    assert resp.status_code == 200, resp.text
    dan.wait_for_selector(f"#map path.zone-{zone_id}[aria-label='Hazard zone: Closed road and bridge']",
                          state="attached", timeout=5000)
    assert dan.locator(f"#map path.zone-{zone_id}").get_attribute("d") != before
    assert dan.locator("#map path.hazard-zone").count() == 1  # redrawn, not drawn twice
    assert places.inner_text() == "Hazard zone: Closed road and bridge — Gas main repair"
    dan.wait_for_function("() => document.querySelector('#announce-polite').textContent.includes('changed')")

    # A flagged place published over REST appears beside it, labelled in words.
    flag = requests.post(f"{live.url}/api/v1/flagged-places", headers=world.bearer("ada"), timeout=5, json={
        "label": "12 Quillfeather Row", "category": "dog", "reason": "Dog in the hall",
        "point": {"lat": 51.5007, "lon": -0.1246, "radius_m": 30},
        "expires_at": (utcnow() + timedelta(days=30)).isoformat()}).json()
    dan.wait_for_selector(f"#map path.flag-{flag['id']}", state="attached", timeout=5000)
    assert (dan.locator(f"#map path.flag-{flag['id']}").get_attribute("aria-label")
            == "Flagged place: Dog on the premises — 12 Quillfeather Row")
    assert "Flagged place: Dog on the premises — 12 Quillfeather Row — Dog in the hall" in places.inner_text()

    # Ada retires the zone on the places page: it leaves Dan's map and list; the flag stays.
    ada.reload()
    ada.get_by_role("button", name="Retire hazard zone Closed road and bridge").click()
    ada.wait_for_load_state("networkidle")
    dan.wait_for_selector(f"#map path.zone-{zone_id}", state="detached", timeout=5000)
    assert places.inner_text() == "Flagged place: Dog on the premises — 12 Quillfeather Row — Dog in the hall"
    dan.wait_for_function("() => document.querySelector('#announce-polite').textContent.includes('removed')")
    assert _polite(dan) == "Hazard zone: Closed road and bridge removed (on the map)."
    assert dan.evaluate("() => window.loadedOnce") is True  # all of it without a reload


def test_an_older_places_message_arriving_after_a_newer_one_leaves_the_map_alone(browser, live, world, session):
    """With two processes, a change's ``places`` can overtake the one before it: the map keeps the newest set."""
    dan = login_page(browser, live, "dan", PASSWORD)
    dan.goto(f"{live.url}/dispatch")
    dan.wait_for_function("() => document.querySelector('#conn-status').textContent.includes('live')")
    dan.get_by_text("Hazard zones and flagged places on the map (0)").click()
    places = dan.get_by_role("list", name="Hazard zones and flagged places in force")
    zone = requests.post(f"{live.url}/api/v1/hazard-zones", headers=world.bearer("ada"), timeout=5, json={
        "name": "Closed road", "reason": "Gas main repair",
        "polygon": {"type": "Polygon",
                    "coordinates": [[[-0.13, 51.5], [-0.12, 51.5], [-0.12, 51.508], [-0.13, 51.5]]]}})
    assert zone.status_code == 201, zone.text
    zone_id = zone.json()["id"]
    dan.wait_for_selector(f"#map path.zone-{zone_id}", state="attached", timeout=5000)
    dan.wait_for_function("() => document.querySelector('#announce-polite').textContent.includes('added')")
    session.expire_all()
    version = present.places_version(session)
    assert version is not None

    def deliver(message: dict) -> None:
        """Hand a ``places`` message to the page's own socket handler, as if the server had sent it."""
        dan.evaluate("""(m) => window.dispatchState.socket.listeners("places").forEach(fn => fn(m))""", message)

    # The set of an older change (before the zone was drawn) arrives late: nothing changes, nothing is said.
    deliver({"zones": [], "flagged_places": [], "places_version": "2000-01-01T00:00:00.000000Z"})
    dan.wait_for_timeout(300)
    assert dan.locator(f"#map path.zone-{zone_id}").count() == 1
    assert places.inner_text() == "Hazard zone: Closed road — Gas main repair"
    assert "removed" not in _polite(dan)

    # The same version again is drawn (equal: apply), and a newer one too.
    renamed = dict(zone.json(), name="Closed road (north)")
    deliver({"zones": [renamed], "flagged_places": [], "places_version": version})
    dan.wait_for_selector(f"#map path.zone-{zone_id}[aria-label='Hazard zone: Closed road (north)']",
                          state="attached", timeout=5000)
    deliver({"zones": [], "flagged_places": [], "places_version": "2999-01-01T00:00:00.000000Z"})
    dan.wait_for_selector(f"#map path.zone-{zone_id}", state="detached", timeout=5000)
    assert places.inner_text() == "No hazard zones or flagged places in force"


FAR_FLAG = {"lat": 51.5300, "lon": -0.0800}  # well away from the trip the map opens on (around 51.501, -0.115)


def _flag(live, world, label: str, reason: str, lat: float, lon: float) -> dict:
    """Publish a flagged place over REST (a dispatcher draws it: it warns at once) and return it."""
    resp = requests.post(f"{live.url}/api/v1/flagged-places", headers=world.bearer("ada"), timeout=5, json={
        "label": label, "category": "dog", "reason": reason, "point": {"lat": lat, "lon": lon, "radius_m": 40},
        "expires_at": (utcnow() + timedelta(days=30)).isoformat()})
    assert resp.status_code == 201, resp.text
    return resp.json()


def _zone(live, world, name: str, corners: list[list[float]]) -> dict:
    """Draw a hazard zone over REST and return it."""
    resp = requests.post(f"{live.url}/api/v1/hazard-zones", headers=world.bearer("ada"), timeout=5, json={
        "name": name, "polygon": {"type": "Polygon", "coordinates": [corners]}})
    assert resp.status_code == 201, resp.text
    return resp.json()


def _focused(page) -> str:
    """Return the accessible name (aria-label, else id) of what has keyboard focus."""
    return page.evaluate("() => { const e = document.activeElement; "
                         "return e === document.body ? 'BODY' : (e.getAttribute('aria-label') || e.id || e.tagName); }")


def test_the_places_list_on_the_live_map_works_by_keyboard_and_keeps_focus_through_updates(browser, live, world):
    from tests.browser.test_accessibility import audit

    _zone(live, world, "Closed road", [[-0.13, 51.5], [-0.12, 51.5], [-0.12, 51.508], [-0.13, 51.5]])
    flag = _flag(live, world, "1 Far Lane", "Dog in the hall", **FAR_FLAG)
    dan = login_page(browser, live, "dan", PASSWORD)
    dan.goto(f"{live.url}/dispatch")
    dan.wait_for_function("() => document.querySelector('#conn-status').textContent.includes('live')")
    dan.wait_for_selector(f"#map path.flag-{flag['id']}", state="attached", timeout=5000)

    # By keyboard: open the list from its summary, then Tab to each entry in reading order.
    dan.get_by_text("Hazard zones and flagged places on the map (2)").focus()
    dan.keyboard.press("Enter")
    places = dan.get_by_role("list", name="Hazard zones and flagged places in force")
    assert places.is_visible()
    assert places.inner_text() == ("Hazard zone: Closed road\n"
                                   "Flagged place: Dog on the premises — 1 Far Lane — Dog in the hall")
    dan.keyboard.press("Tab")
    assert _focused(dan) == "Show Hazard zone: Closed road on the map"
    dan.keyboard.press("Tab")
    show_flag = "Show Flagged place: Dog on the premises — 1 Far Lane on the map"
    assert _focused(dan) == show_flag
    assert dan.get_by_role("button", name=show_flag).is_visible()
    assert audit(dan, live) == [], "the live map with its places listed"

    # Enter: the map moves onto the place and opens its label; focus stays on the entry; nothing is said.
    before = dan.evaluate("() => window.dispatchState.mapCenter()")
    assert abs(before["lat"] - FAR_FLAG["lat"]) > 0.01, before
    polite = dan.locator("#announce-polite").inner_text()
    dan.keyboard.press("Enter")
    dan.wait_for_function("""([lat, lon]) => { const c = window.dispatchState.mapCenter();
        return Math.abs(c.lat - lat) < 0.0005 && Math.abs(c.lon - lon) < 0.0005; }""",
                          arg=[FAR_FLAG["lat"], FAR_FLAG["lon"]], timeout=5000)
    label = dan.locator(".leaflet-tooltip .flag-label")
    label.wait_for(timeout=5000)
    assert label.inner_text() == "Flagged place: Dog on the premises — 1 Far Lane\nDog in the hall"
    assert _focused(dan) == show_flag
    assert dan.locator("#announce-polite").inner_text() == polite
    dan.evaluate("() => { window.__entry = document.activeElement; }")

    # Another flagged place is published, and a zone drawn (listed before the focused entry):
    # the list follows, and focus stays on the same entry, whose label stays open.
    _flag(live, world, "2 Near Street", "Steep steps", 51.5010, -0.1200)
    dan.get_by_text("Hazard zones and flagged places on the map (3)").wait_for(timeout=5000)
    assert "Flagged place: Dog on the premises — 2 Near Street — Steep steps" in places.inner_text()
    assert dan.evaluate("() => document.activeElement === window.__entry")
    _zone(live, world, "Bridge works", [[-0.11, 51.5], [-0.10, 51.5], [-0.10, 51.505], [-0.11, 51.5]])
    dan.get_by_text("Hazard zones and flagged places on the map (4)").wait_for(timeout=5000)
    assert places.inner_text().splitlines()[:2] == ["Hazard zone: Closed road", "Hazard zone: Bridge works"]
    assert dan.evaluate("() => document.activeElement === window.__entry")
    assert _focused(dan) == show_flag
    assert label.is_visible()
    assert audit(dan, live) == [], "the live map with a place's label open"

    # The focused entry's place is retired: focus goes to the list's summary, not to the page.
    resp = requests.delete(f"{live.url}/api/v1/flagged-places/{flag['id']}", headers=world.bearer("ada"), timeout=5)
    assert resp.status_code in (200, 204), resp.text
    dan.get_by_text("Hazard zones and flagged places on the map (3)").wait_for(timeout=5000)
    assert "1 Far Lane" not in places.inner_text()
    assert _focused(dan) == "places-summary"
