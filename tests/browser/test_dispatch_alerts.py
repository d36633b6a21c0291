"""In a real browser: the live map's alerts are heard, said aloud, kept until seen, and usable by keyboard."""

from __future__ import annotations

import time
from datetime import timedelta

import requests
from sqlmodel import select

from app.db import utcnow
from dispatch.models import Alert
from tests.browser.conftest import login_page
from tests.factories import PASSWORD, ROUTE, fix_payload


def _send(live, world, seq: int, lat: float, lon: float, ts=None) -> None:
    """Send one fix over HTTP as the trip's device."""
    resp = requests.post(f"{live.url}/api/v1/fixes", json=[fix_payload(seq, lat=lat, lon=lon, ts=ts)],
                         headers={"Authorization": f"Bearer {world.device_token}"}, timeout=5)
    assert resp.json()["accepted"] == [seq], resp.text


def _panic(live, world) -> None:
    """Raise a panic the way the Traccar Client does (OsmAnd, alarm=sos)."""
    resp = requests.get(f"{live.url}/osmand", params={"id": world.device_token, "lat": ROUTE[1][0], "lon": ROUTE[1][1],
                                                      "timestamp": int(time.time()), "alarm": "sos"}, timeout=5)
    assert resp.status_code == 200, resp.text


def _live_map(browser, live):
    page = login_page(browser, live, "dan", PASSWORD)
    page.wait_for_function("() => document.querySelector('#conn-status').textContent.includes('live')")
    return page


def test_a_stop_that_cleared_itself_stays_listed_marked_cleared_until_acknowledged(browser, live, world, session):
    page = _live_map(browser, live)
    start = utcnow() - timedelta(minutes=10)
    for i in range(0, 240, 10):
        _send(live, world, 1 + i, *ROUTE[2], ts=start + timedelta(seconds=i))
    card = page.locator("#alert-list li[data-kind='stop']")
    card.wait_for(timeout=5000)
    for n, point in enumerate(ROUTE[3:]):
        _send(live, world, 1000 + n, *point, ts=start + timedelta(seconds=300 + 40 * n))
    page.wait_for_function("() => document.querySelector(\"#alert-list li[data-kind='stop']\").classList.contains('cleared')",
                           timeout=5000)
    page.wait_for_timeout(1500)
    assert "Cleared" in card.text_content() and "Unexpected stop" in card.text_content()
    page.reload()
    page.wait_for_function("() => document.querySelector('#conn-status').textContent.includes('live')")
    card.wait_for(timeout=5000)
    assert "cleared" in card.get_attribute("class")
    assert card.get_by_role("button", name="Resolve").count() == 0
    card.get_by_role("button", name="Acknowledge Unexpected stop, Pat Example · eve").click()
    card.wait_for(state="detached", timeout=5000)
    session.expire_all()
    [stop] = session.exec(select(Alert).where(Alert.kind == "stop")).all()
    assert stop.acknowledged_at is not None


def test_a_new_panic_is_announced_assertively_and_counted_in_the_title(browser, live, world):
    page = _live_map(browser, live)
    assert not page.title().startswith("(")
    _panic(live, world)
    page.wait_for_function("() => (document.querySelector('[aria-live=assertive]').textContent || '').includes('PANIC')",
                           timeout=5000)
    assert "Pat Example" in page.locator("[aria-live=assertive]").inner_text()
    assert page.title().startswith("(1) ")
    card = page.locator("#alert-list li[data-kind='panic']")
    assert "PANIC" in card.text_content() and "sev-high" in card.get_attribute("class")
    assert page.evaluate("() => window.dispatchState.alarming") is True, "panic sounds until acknowledged"


def _map_with_a_panic(browser, live, world):
    """Open the live map, raise a panic; return the page, the panic's card and the alert's id."""
    page = _live_map(browser, live)
    _panic(live, world)
    card = page.locator("#alert-list li[data-kind='panic']")
    card.wait_for(timeout=5000)
    return page, card, int(page.evaluate("() => Object.keys(window.dispatchState.alerts)[0]"))


def test_a_late_copy_of_a_resolved_panic_does_not_bring_it_back(browser, live, world):
    # Each server process tells its own screens, and the sweep that finds the place tells an alert
    # again: a copy sent before the resolve can arrive after it. The page never goes backwards.
    page, card, alert_id = _map_with_a_panic(browser, live, world)
    page.evaluate("id => { window.staleCopy = JSON.parse(JSON.stringify(window.dispatchState.alerts[id])); }", alert_id)
    # Of two copies at the same stage, the older (its detail not yet merged) does not replace the newer.
    older = page.evaluate("""id => {
        const late = Object.assign({}, window.staleCopy, { updated_at: "2000-01-01T00:00:00Z", detail: { old: true } });
        window.dispatchState.socket.listeners("alert").forEach(fn => fn(late));
        return window.dispatchState.alerts[id];
    }""", alert_id)
    assert older["updated_at"] != "2000-01-01T00:00:00Z" and "old" not in older["detail"]
    resp = requests.post(f"{live.url}/api/v1/alerts/{alert_id}/resolve", json={"category": "false"},
                         headers={"Authorization": f"Bearer {world.api_tokens['dan']}"}, timeout=5)
    assert resp.status_code == 200, resp.text
    card.wait_for(state="detached", timeout=5000)
    page.wait_for_function("() => window.dispatchState.alarming === false", timeout=5000)
    # The older copy arrives now, through the page's own socket handler, with where it happened.
    page.evaluate("""() => {
        const late = Object.assign({}, window.staleCopy, { place: "Kaivokatu 8, Helsinki" });
        window.dispatchState.socket.listeners("alert").forEach(fn => fn(late));
    }""")
    page.wait_for_timeout(500)
    assert card.count() == 0, "a resolved panic is not listed again"
    assert page.evaluate("() => window.dispatchState.alarming") is False, "nor does its alarm sound again"
    assert not page.title().startswith("(")


def test_a_resolve_is_taken_even_after_a_copy_stamped_later(browser, live, world):
    # A process that merged detail into the open panic just before the dispatcher resolved it
    # stamps a later updated_at on the earlier stage, and its copy can arrive first. The resolve
    # moves the alert on, so the page takes it all the same.
    page, card, alert_id = _map_with_a_panic(browser, live, world)
    taken = page.evaluate("""id => {
        const later = Object.assign({}, window.dispatchState.alerts[id], { updated_at: "2100-01-01T00:00:00Z" });
        window.dispatchState.socket.listeners("alert").forEach(fn => fn(later));
        return window.dispatchState.alerts[id].updated_at;
    }""", alert_id)
    assert taken == "2100-01-01T00:00:00Z", "a newer copy at the same stage replaces the older"
    resp = requests.post(f"{live.url}/api/v1/alerts/{alert_id}/resolve", json={"category": "false"},
                         headers={"Authorization": f"Bearer {world.api_tokens['dan']}"}, timeout=5)
    assert resp.status_code == 200, resp.text
    card.wait_for(state="detached", timeout=5000)
    assert page.evaluate("id => window.dispatchState.alerts[id] ? window.dispatchState.alerts[id].state : 'gone'",
                         alert_id) in ("resolved", "gone")
    page.wait_for_function("() => window.dispatchState.alarming === false", timeout=5000)


def _tab_to(page, label: str, limit: int = 60) -> None:
    """Press Tab until the focused element has this accessible label (aria-label)."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate("() => document.activeElement.getAttribute('aria-label')") == label:
            return
    raise AssertionError(f"Tab never reached {label!r}")


def _focused(page) -> str:
    return page.evaluate("() => document.activeElement.getAttribute('aria-label') || document.activeElement.tagName")


def _updates_for(live, world, seconds: float, first_seq: int) -> None:
    """Send a fix every 0.3 s along the route: the lists update live meanwhile."""
    deadline, seq = time.monotonic() + seconds, first_seq
    while time.monotonic() < deadline:
        lat, lon = ROUTE[seq % len(ROUTE)]
        _send(live, world, seq, lat, lon)
        seq += 1
        time.sleep(0.3)


def test_keyboard_alone_acknowledges_and_resolves_and_focus_survives_live_updates(browser, live, world, session):
    page = _live_map(browser, live)
    _send(live, world, 1, *ROUTE[0])
    _panic(live, world)
    page.locator("#alert-list li[data-kind='panic']").wait_for(timeout=5000)

    # A trip row's control keeps focus through more than 2 s of live updates.
    show = "Show on map: Pat Example · eve"
    _tab_to(page, show)
    _updates_for(live, world, 2.5, 10)
    assert _focused(page) == show

    # The alert card: Tab to it, act with Enter; focus stays on the card through updates.
    ack = "Acknowledge PANIC, Pat Example · eve"
    page.locator("#alerts-heading").focus()
    _tab_to(page, ack)
    _updates_for(live, world, 2.5, 100)
    assert _focused(page) == ack
    page.keyboard.press("Enter")
    page.wait_for_function("() => document.querySelector(\"#alert-list li[data-kind='panic']\").classList.contains('acknowledged')",
                           timeout=5000)
    session.expire_all()
    [panic] = session.exec(select(Alert).where(Alert.kind == "panic")).all()
    assert panic.acknowledged_at is not None
    assert page.evaluate("() => window.dispatchState.alarming") is False, "the alarm stops once acknowledged"
    assert page.evaluate("() => document.activeElement.closest('li') && document.activeElement.closest('li').dataset.kind") == "panic"

    # Resolve opens a dialog with no category chosen; Escape closes it and gives focus back.
    resolve = "Resolve PANIC, Pat Example · eve"
    page.locator("#alerts-heading").focus()
    _tab_to(page, resolve)
    page.keyboard.press("Space")
    dialog = page.get_by_role("dialog", name="Resolve alert")
    dialog.wait_for()
    assert page.get_by_label("Category").input_value() == ""
    page.keyboard.press("Escape")
    dialog.wait_for(state="hidden")
    assert _focused(page) == resolve
    session.expire_all()
    assert session.get(Alert, panic.id).resolved_at is None

    # Resolving without choosing a category is refused by the form; with one it closes the alert.
    page.keyboard.press("Enter")
    dialog.wait_for()
    page.get_by_role("button", name="Resolve", exact=True).click()
    assert dialog.is_visible(), "no category chosen: the dialog stays open"
    page.get_by_label("Category").select_option("false")
    page.get_by_role("button", name="Resolve", exact=True).click()
    page.locator("#alert-list li[data-kind='panic']").wait_for(state="detached", timeout=5000)
    session.expire_all()
    assert session.get(Alert, panic.id).category == "false"
