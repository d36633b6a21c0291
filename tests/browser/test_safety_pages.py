"""In a real browser: silent panic reaches the dispatcher fast; safe and duress PINs look the same."""

from __future__ import annotations

import re
import time

from sqlmodel import select

from app.auth import hash_secret
from dispatch.models import Alert
from tests.browser.conftest import login_page
from tests.factories import PASSWORD


def _main_html(page) -> str:
    """Return the escort page's main content as the escort sees it, the clock aside.

    The check-in countdown ticks and the next due time moves with each check-in: blanked.
    """
    html = page.evaluate("""() => {
        const main = document.querySelector('main').cloneNode(true);
        const countdown = main.querySelector('#checkin-due');
        if (countdown) countdown.textContent = '';
        return main.innerHTML;
    }""")
    # Times that move with the clock: the next check-in and the live ETA (computed at each load).
    html = re.sub(r'"(checkin_due_at|eta_at)": "[^"]*"', r'"\1": "<time>"', html)
    return re.sub(r"ETA \d{1,2}:\d{2}(?:\s?[AP]M)?", "ETA <time>", html)  # the ETA's words, as the clock moves


def test_held_panic_alerts_the_dispatcher_and_shows_nothing_to_the_escort(browser, live, world, session):
    dispatcher = login_page(browser, live, "dan", PASSWORD)
    dispatcher.wait_for_function("() => document.querySelector('#conn-status').textContent.includes('live')")
    escort = login_page(browser, live, "eve", PASSWORD)
    escort.wait_for_function("() => document.querySelector('#conn-status').textContent.includes('online')")
    panic = escort.locator("#panic")
    panic.click()  # a tap is not a panic
    time.sleep(0.5)
    before = _main_html(escort)
    box = panic.bounding_box()
    escort.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    escort.mouse.down()
    escort.wait_for_timeout(2300)
    released = time.monotonic()
    escort.mouse.up()
    dispatcher.wait_for_selector("#alert-list li[data-kind='panic']", timeout=3000)
    seen_after_s = time.monotonic() - released
    assert seen_after_s < 1.0, f"dispatcher saw the panic {seen_after_s:.2f} s after it was sent"
    time.sleep(0.3)
    assert _main_html(escort) == before, "the escort's page must not change"
    session.expire_all()
    assert [a.kind for a in session.exec(select(Alert)).all()] == ["panic"]


def test_safe_and_duress_pins_give_identical_pages(browser, live, world, session):
    eve = world.users["escort"]
    eve.safe_pin_hash, eve.duress_pin_hash = hash_secret("2468"), hash_secret("1357")
    session.add(eve)
    session.commit()
    pages = {}
    for pin in ("2468", "1357"):
        page = login_page(browser, live, "eve", PASSWORD)
        page.wait_for_function("() => document.querySelector('#conn-status').textContent.includes('online')")
        page.fill("#checkin-pin", pin)
        page.click("#checkin-submit")
        page.wait_for_function("() => document.querySelector('#checkin-result').textContent.length > 0")
        pages[pin] = _main_html(page)
        page.context.close()
    assert pages["2468"] == pages["1357"]
    assert "Checked in" in pages["2468"]
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        session.expire_all()
        if session.exec(select(Alert).where(Alert.kind == "duress")).all():
            break
        time.sleep(0.1)
    assert [a.kind for a in session.exec(select(Alert)).all()] == ["duress"]
