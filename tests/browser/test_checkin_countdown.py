"""In a real browser: the tablet counts down to the next check-in, reminds by sound and vibration, and can be silenced."""

from __future__ import annotations

from app.auth import hash_secret
from tests.browser.conftest import login_page
from tests.factories import PASSWORD

# Records vibrations (and still vibrates): the page's reminders are observed, not replaced.
WATCH_VIBRATE = """
window.vibrations = [];
const original = navigator.vibrate ? navigator.vibrate.bind(navigator) : () => false;
navigator.vibrate = (pattern) => { window.vibrations.push(pattern); return original(pattern); };
"""


def test_the_tablet_counts_down_reminds_once_and_the_silent_switch_holds(browser, live, world, session):
    eve = world.users["escort"]
    eve.safe_pin_hash, eve.duress_pin_hash = hash_secret("2468"), hash_secret("1357")
    trip = world.trip
    # Due 125 s after the start: the server's sweep (every 5 s) reminds within seconds.
    trip.settings = {"checkin_interval_s": 125, "checkin_grace_s": 3600, "signal_lost_after_s": 86400}
    session.add_all([eve, trip])
    session.commit()
    page = login_page(browser, live, "eve", PASSWORD)
    page.add_init_script(WATCH_VIBRATE)
    page.reload()
    page.wait_for_function("() => document.querySelector('#conn-status').textContent.includes('online')")
    countdown = page.locator("#checkin-due")
    assert countdown.is_visible() and countdown.text_content().startswith("Next check-in in ")
    assert countdown.get_attribute("role") == "timer"
    page.wait_for_function("() => document.querySelector('#checkin-announce').textContent.includes('Check-in due at')",
                           timeout=15000)
    assert page.locator("#checkin-announce").get_attribute("aria-live") == "polite"
    page.wait_for_timeout(6000)  # more sweeps: the same due time is not reminded again
    assert page.evaluate("window.vibrations") == [[300, 150, 300]]

    page.check("#silent-reminders")
    assert page.evaluate("localStorage.getItem('escort.silent-reminders.v1')") == "1"
    page.fill("#checkin-pin", "2468")
    page.click("#checkin-submit")
    page.wait_for_function("() => document.querySelector('#checkin-result').textContent.includes('Checked in')")
    page.evaluate("document.querySelector('#checkin-announce').textContent = ''")
    page.wait_for_function("() => document.querySelector('#checkin-announce').textContent.includes('Check-in due at')",
                           timeout=15000)  # the next due time is reminded, silently
    assert page.evaluate("window.vibrations") == [[300, 150, 300]]
    page.reload()
    page.wait_for_function("() => document.querySelector('#conn-status').textContent.includes('online')")
    assert page.is_checked("#silent-reminders"), "the choice is kept on this tablet"
