"""A dispatcher keeps hazard zones and flagged places on /admin/places in Chromium: draws a zone with the
drawing plugin by clicks on the map, places a flagged place, edits one by keyboard alone, retires one."""

from __future__ import annotations

from datetime import timedelta

import pytest
import requests
from sqlmodel import select

from app.db import utcnow
from app.models import AuditEvent
from dispatch.models import FlaggedPlace, HazardZone
from tests.browser.conftest import login_page
from tests.factories import PASSWORD

# Corners clicked on the map, in pixels from its top-left corner.
CORNERS = [(150, 120), (330, 110), (360, 260), (170, 280)]


def _fresh(session, model, object_id):
    session.expire_all()
    return session.get(model, object_id)


def _map_origin(page) -> tuple[float, float]:
    box = page.locator("#places-map").bounding_box()
    return box["x"], box["y"]


def _latlng(page, x: float, y: float) -> list[float]:
    """Return the map's position under a container pixel, as [lat, lon]."""
    return page.evaluate("([x, y]) => { const p = window.placesState.map.containerPointToLatLng([x, y]);"
                         " return [p.lat, p.lng]; }", [x, y])


def test_a_dispatcher_draws_a_hazard_zone_places_a_flag_and_retires_the_zone(browser, live, world, session):
    page = login_page(browser, live, "dan", PASSWORD)
    page.get_by_role("link", name="Places").first.click()
    page.wait_for_load_state("networkidle")
    assert page.get_by_role("heading", level=1).inner_text().startswith("Places")
    page.wait_for_function("() => window.placesState && window.placesState.map")

    # Draw: click each corner on the map, then the first corner again to close the polygon.
    page.get_by_role("button", name="Draw a hazard zone").click()
    left, top = _map_origin(page)
    for x, y in CORNERS + [CORNERS[0]]:
        page.mouse.click(left + x, top + y)
        page.wait_for_timeout(150)
    new_zone = page.locator("form[data-form='zone-new']")
    name = new_zone.get_by_label("Name", exact=True)
    name.wait_for(state="visible")
    assert name.evaluate("el => el === document.activeElement")  # the drawing hands over to the form
    typed_corners = new_zone.get_by_label("Corners", exact=False).input_value().splitlines()
    assert len(typed_corners) == 4
    assert "4 corners" in page.locator("#map-said").inner_text()
    clicked = [_latlng(page, x, y) for x, y in CORNERS]  # before the page reloads and the view moves
    name.fill("Closed road")
    new_zone.get_by_label("Reason (optional)").fill("Gas main repair")
    new_zone.get_by_role("button", name="Add hazard zone").click()
    page.wait_for_load_state("networkidle")
    assert "Hazard zone “Closed road” added" in page.locator(".flashes").inner_text()

    [zone] = session.exec(select(HazardZone)).all()
    assert zone.name == "Closed road" and zone.reason == "Gas main repair" and len(zone.ring) == 4
    page.wait_for_function("() => window.placesState && window.placesState.layers['zone-%d']" % zone.id)
    for (lat, lon), want in zip(zone.ring, clicked):
        assert lat == pytest.approx(want[0], abs=1e-3) and lon == pytest.approx(want[1], abs=1e-3)  # a few pixels
    item = page.locator(f"#zone-{zone.id}")
    assert "Closed road" in item.inner_text() and "Added by dan" in item.inner_text()
    assert page.locator(f"path.zone-{zone.id}").count() == 1

    # Place a flagged place: its centre, then its edge.
    page.get_by_role("button", name="Place a flagged place").click()
    left, top = _map_origin(page)
    page.mouse.click(left + 250, top + 190)
    page.wait_for_timeout(150)
    page.mouse.click(left + 290, top + 190)
    new_flag = page.locator("form[data-form='flag-new']")
    label = new_flag.get_by_label("Place (address or name)")
    label.wait_for(state="visible")
    radius = float(new_flag.get_by_label("Radius (m)").input_value())
    assert radius > 0
    centre = _latlng(page, 250, 190)
    assert float(new_flag.get_by_label("Latitude").input_value()) == pytest.approx(centre[0], abs=1e-3)
    label.fill("Car park behind the clinic")
    new_flag.get_by_label("Category").select_option(label="Unsafe parking")
    new_flag.get_by_label("Reason (what the escort should know)").fill("Cars broken into at night")
    new_flag.get_by_role("button", name="Add flagged place").click()
    page.wait_for_load_state("networkidle")
    [place] = session.exec(select(FlaggedPlace)).all()
    assert (place.label, place.category) == ("Car park behind the clinic", "unsafe_parking")
    assert place.radius_m == pytest.approx(radius, abs=1)
    assert place.expires_at > utcnow() + timedelta(days=300)  # the default: a year ahead

    # Edit on the map: drag a corner; the zone's form takes the new corners, and Save keeps them.
    before = [f"{lat:.6f}, {lon:.6f}" for lat, lon in zone.ring]
    page.get_by_role("button", name="Edit on map").first.click()
    corner = page.locator(".marker-icon:not(.marker-icon-middle)").first
    corner.wait_for()
    box = corner.bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x - 20, y - 20, steps=5)
    page.mouse.move(x - 40, y - 40, steps=5)
    page.mouse.up()
    edit = page.locator(f"form[data-form='zone-{zone.id}']")
    edit.get_by_label("Corners", exact=False).wait_for(state="visible")  # its form opened
    moved = edit.get_by_label("Corners", exact=False).input_value().splitlines()
    assert len(moved) == 4 and moved != before
    assert "press its Save button" in page.locator("#map-said").inner_text()
    edit.get_by_role("button", name="Save zone").click()
    page.wait_for_load_state("networkidle")
    edited = _fresh(session, HazardZone, zone.id)
    assert [f"{lat:.6f}, {lon:.6f}" for lat, lon in edited.ring] == moved != before

    # Retire the zone: it goes from the list and the map, and stays on record.
    page.get_by_role("button", name="Retire hazard zone Closed road").click()
    page.wait_for_load_state("networkidle")
    assert "retired" in page.locator(".flashes").inner_text()
    assert page.locator(f"#zone-{zone.id}").count() == 0 and page.locator(f"path.zone-{zone.id}").count() == 0
    assert not _fresh(session, HazardZone, zone.id).active
    session.expire_all()
    actions = [e.action for e in session.exec(select(AuditEvent).where(AuditEvent.action.like("zone_%")
                                                                        | AuditEvent.action.like("flag_%"))).all()]
    assert actions == ["zone_created", "flag_created", "zone_updated", "zone_retired"]


def test_a_flagged_place_is_edited_by_keyboard_alone(browser, live, world, session):
    resp = requests.post(f"{live.url}/api/v1/flagged-places", headers=world.bearer("dan"), timeout=5, json={
        "label": "12 Quillfeather Row", "category": "dog", "reason": "Dog in the hall",
        "point": {"lat": 51.5007, "lon": -0.1246, "radius_m": 30},
        "expires_at": (utcnow() + timedelta(days=30)).isoformat()})
    assert resp.status_code == 201
    flag_id = resp.json()["id"]
    page = login_page(browser, live, "dan", PASSWORD)
    page.goto(f"{live.url}/admin/places")
    page.wait_for_load_state("networkidle")

    # Tab from the "Retire" button of the place to the summary that opens its form.
    page.get_by_role("button", name="Retire flagged place 12 Quillfeather Row").focus()
    page.keyboard.press("Tab")
    summary = page.locator(f"#flag-{flag_id}-details > summary")
    assert summary.evaluate("el => el === document.activeElement")
    page.keyboard.press("Enter")
    form = page.locator(f"form[data-form='flag-{flag_id}']")
    page.keyboard.press("Tab")
    assert form.get_by_label("Place (address or name)").evaluate("el => el === document.activeElement")
    page.keyboard.press("Tab")  # Category
    page.keyboard.press("Tab")  # Reason
    page.keyboard.press("ControlOrMeta+a")
    page.keyboard.type("Dog in the hall; the owner shuts it away if you call ahead")
    form.get_by_label("Radius (m)").focus()
    page.keyboard.press("ControlOrMeta+a")
    page.keyboard.type("45")
    with page.expect_navigation():
        page.keyboard.press("Enter")  # submits the form
    page.wait_for_load_state("networkidle")
    assert "saved" in page.locator(".flashes").inner_text()
    place = _fresh(session, FlaggedPlace, flag_id)
    assert place.radius_m == 45 and place.reason.endswith("if you call ahead")
    assert "radius 45 m" in page.locator(f"#flag-{flag_id}").inner_text()

    # A bad value typed: the error is at the field, and the form stays open with what was typed.
    page.locator(f"#flag-{flag_id}-details > summary").focus()
    page.keyboard.press("Enter")
    form.get_by_label("Latitude").focus()
    page.keyboard.press("ControlOrMeta+a")
    page.keyboard.type("95")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    page.wait_for_load_state("networkidle")
    assert page.locator("#error-summary").evaluate("el => el === document.activeElement")
    assert "latitude" in page.locator(f"#f-flag-{flag_id}-lat-error").inner_text()
    assert form.get_by_label("Latitude").input_value() == "95"
    assert _fresh(session, FlaggedPlace, flag_id).lat == 51.5007
