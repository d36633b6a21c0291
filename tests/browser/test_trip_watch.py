"""In a real browser: the dispatcher's trip page, live. Alerts acknowledged and resolved by keyboard,
a note added, the status changed, the position moving as the escort drives, and new alerts said
aloud (assertively for panic) and sounded until acknowledged."""

from __future__ import annotations

import time

import requests
from sqlmodel import select

from dispatch.models import Alert, TripEvent
from tests.browser.conftest import login_page
from tests.factories import PASSWORD, ROUTE, fix_payload


def _send(live, world, seq: int, lat: float, lon: float) -> None:
    """Send one fix over HTTP as the trip's device."""
    resp = requests.post(f"{live.url}/api/v1/fixes", json=[fix_payload(seq, lat=lat, lon=lon)],
                         headers={"Authorization": f"Bearer {world.device_token}"}, timeout=5)
    assert resp.json()["accepted"] == [seq], resp.text


def _panic(live, world) -> None:
    """Raise a panic the way the Traccar Client does (OsmAnd, alarm=sos)."""
    resp = requests.get(f"{live.url}/osmand", params={"id": world.device_token, "lat": ROUTE[1][0], "lon": ROUTE[1][1],
                                                      "timestamp": int(time.time()), "alarm": "sos"}, timeout=5)
    assert resp.status_code == 200, resp.text


def _trip_page(browser, live, world, name: str = "dan"):
    page = login_page(browser, live, name, PASSWORD)
    page.goto(f"{live.url}/dispatch/trips/{world.trip.id}")
    page.wait_for_function("() => document.body.dataset.live === '1'")
    return page


def _tab_to(page, label: str, limit: int = 80) -> None:
    """Press Tab until the focused element has this accessible name (aria-label or text)."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate("() => document.activeElement.getAttribute('aria-label') || document.activeElement.textContent") == label:
            return
    raise AssertionError(f"Tab never reached {label!r}")


def test_live_position_and_panic_acknowledged_and_resolved_by_keyboard(browser, live, world, session):
    page = _trip_page(browser, live, world)
    assert page.locator("#open-alerts").inner_text().strip() == "No open alerts"
    assert page.get_by_role("link", name="Patient sheet").get_attribute("href") == f"/patients/{world.patient.id}"

    # The escort drives: the last position and the track follow without a reload.
    _send(live, world, 1, *ROUTE[1])
    page.wait_for_function(f"() => document.querySelector('#last-position').textContent.startsWith('{ROUTE[1][0]:.5f}')",
                           timeout=15000)
    _send(live, world, 2, *ROUTE[2])
    page.wait_for_function(f"() => document.querySelector('#last-position').textContent.startsWith('{ROUTE[2][0]:.5f}')",
                           timeout=15000)
    assert page.locator("path.trip-track").count() == 1
    assert page.evaluate("() => document.querySelector('path.trip-track').getAttribute('d').split('L').length") >= 2

    # A panic: said assertively, shown as PANIC with its icon, sounding until acknowledged.
    _panic(live, world)
    card = page.locator("#open-alerts li[data-kind='panic']")
    card.wait_for(timeout=15000)
    page.wait_for_function("() => document.querySelector('#announce-urgent').textContent.includes('PANIC')", timeout=15000)
    assert "sev-high" in card.get_attribute("class") and "Not acknowledged" in card.inner_text()
    assert page.evaluate("() => document.documentElement.dataset.alarm") == "on"
    assert "panic" in page.evaluate("() => window.EscortAlertSound.played")

    # Keyboard only: Tab to Acknowledge, press Enter; focus moves on to Resolve, not to the page.
    page.locator("#open-alerts-heading").focus()
    _tab_to(page, "Acknowledge PANIC alert")
    _send(live, world, 3, *ROUTE[3])  # a live update meanwhile keeps focus where it is
    page.wait_for_function(f"() => document.querySelector('#last-position').textContent.startsWith('{ROUTE[3][0]:.5f}')")
    assert page.evaluate("() => document.activeElement.getAttribute('aria-label')") == "Acknowledge PANIC alert"
    page.keyboard.press("Enter")
    page.wait_for_function("() => document.querySelector(\"#open-alerts li[data-kind='panic']\").classList.contains('acknowledged')",
                           timeout=15000)
    assert page.evaluate("() => document.activeElement.getAttribute('aria-label')") == "Resolve PANIC alert"
    assert page.evaluate("() => document.documentElement.dataset.alarm") == "off", "the alarm stops once acknowledged"

    # Resolve: the dialog has no category chosen; Escape returns focus; with a category it resolves.
    page.keyboard.press("Enter")
    dialog = page.get_by_role("dialog", name="Resolve alert")
    dialog.wait_for()
    assert page.get_by_label("Category").input_value() == ""
    page.keyboard.press("Escape")
    dialog.wait_for(state="hidden")
    assert page.evaluate("() => document.activeElement.getAttribute('aria-label')") == "Resolve PANIC alert"
    page.keyboard.press("Enter")
    dialog.wait_for()
    page.get_by_label("Category").select_option("precautionary")
    page.get_by_label("Note (optional)").fill("escort called back, all fine")
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    with page.expect_response(lambda r: r.url.endswith("/resolve"), timeout=15000) as answer:
        page.get_by_role("button", name="Resolve", exact=True).click()
    assert answer.value.status == 200, answer.value.text()
    assert answer.value.json()["state"] == "resolved"
    try:
        page.locator("#past-alerts li[data-kind='panic']").wait_for(timeout=15000)
    except Exception:  # say what the page held, so a failure far away can be read
        held = page.evaluate("() => document.querySelector('#open-alerts').innerText")
        raise AssertionError(f"the resolved panic stayed open: {held!r}; answer {answer.value.json()}; errors {errors}")
    assert "precautionary: escort called back, all fine" in page.locator("#past-alerts").inner_text()
    assert page.locator("#open-alert-count").inner_text() == "0"
    session.expire_all()
    [panic] = session.exec(select(Alert).where(Alert.kind == "panic")).all()
    assert panic.acknowledged_at is not None and panic.category == "precautionary"
    timeline = page.locator("#trip-timeline").inner_text()
    assert "Alert raised: panic" in timeline and "Alert resolved: panic" in timeline


def test_a_note_and_a_status_change_from_the_page(browser, live, world, session):
    page = _trip_page(browser, live, world)
    assert page.locator("#trip-timeline").get_attribute("tabindex") == "0", "the timeline scrolls by keyboard"
    page.get_by_label("Add a note to this trip").fill("Patient asked for the front seat")
    page.get_by_role("button", name="Add note").click()
    page.wait_for_function("() => document.querySelector('#trip-timeline').textContent.includes('front seat')", timeout=15000)
    assert page.locator("#note-result").inner_text() == "Note added."

    # on board → arrived at drop-off: only the statuses allowed next are offered.
    buttons = page.locator("#status-buttons button")
    assert sorted(buttons.all_inner_texts()) == ["Set status: arrived dropoff", "Set status: incident"]
    page.get_by_role("button", name="Set status: arrived dropoff").click()
    page.wait_for_function("() => document.querySelector('#trip-status').textContent === 'arrived dropoff'", timeout=15000)
    assert sorted(buttons.all_inner_texts()) == ["Set status: completed", "Set status: incident"]
    page.wait_for_function("() => document.querySelector('#announce-polite').textContent.includes('arrived dropoff')")
    session.expire_all()
    notes = session.exec(select(TripEvent).where(TripEvent.trip_id == world.trip.id, TripEvent.kind == "note")).all()
    assert [n.detail["text"] for n in notes] == ["Patient asked for the front seat"]
    assert session.get(type(world.trip), world.trip.id).status == "arrived_dropoff"


def test_coordinators_read_the_page_without_acting_or_a_live_feed(browser, live, world):
    page = login_page(browser, live, "cora", PASSWORD)
    page.goto(f"{live.url}/dispatch/trips/{world.trip.id}")
    page.wait_for_load_state("networkidle")
    assert page.locator("#status-buttons").count() == 0
    assert page.get_by_role("button", name="Turn on alert sounds").count() == 0
    assert page.get_by_label("Add a note to this trip").is_visible()


def test_the_board_sounds_a_panic_until_someone_acknowledges_it(browser, live, world):
    page = login_page(browser, live, "dan", PASSWORD)
    page.goto(f"{live.url}/dispatch/board")
    page.wait_for_function("() => document.body.dataset.live === '1'")
    assert page.get_by_role("button", name="Turn on alert sounds").is_visible()
    page.get_by_role("button", name="Turn on alert sounds").click()
    _panic(live, world)
    page.wait_for_function("() => window.EscortAlertSound.played.indexOf('panic') >= 0", timeout=15000)
    assert page.evaluate("() => document.documentElement.dataset.alarm") == "on"
    page.wait_for_function("() => window.EscortAlertSound.played.indexOf('alarm') >= 0", timeout=15000)  # it repeats
    [panic] = requests.get(f"{live.url}/api/v1/alerts?open=1", headers=world.bearer("dan"), timeout=5).json()
    # Another dispatcher acknowledges it elsewhere: the board falls quiet.
    assert requests.post(f"{live.url}/api/v1/alerts/{panic['id']}/ack", headers=world.bearer("dan"), timeout=5).ok
    page.wait_for_function("() => document.documentElement.dataset.alarm === 'off'", timeout=15000)


def test_the_replay_says_early_once_in_the_services_time_zone(browser, live, world, session):
    from datetime import timedelta

    trip = world.make_trip(status="completed")
    trip.scheduled_pickup_at = trip.scheduled_pickup_at + timedelta(minutes=4, seconds=22)
    session.add(trip)
    session.commit()
    page = login_page(browser, live, "cora", PASSWORD)
    page.goto(f"{live.url}/trips/{trip.id}")
    page.wait_for_function("() => document.querySelector('#trip-figures th') !== null", timeout=10000)
    figures = page.locator("#trip-figures").inner_text()
    assert "4 min 22 s early" in figures and "late by" not in figures.lower()
    zone = page.evaluate("() => window.EscortTimes.zone")
    assert zone == page.locator("meta[name=escort-timezone]").get_attribute("content")
    stamp = page.locator("#timeline time").first.inner_text()
    assert len(stamp.split(":")) == 3, "to the second"
