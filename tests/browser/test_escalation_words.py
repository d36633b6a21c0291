"""In a real browser: an alert the server's sweep escalates says so on its card, live, in words and in the
dispatcher's local time, and the step is announced politely (not assertively)."""

from __future__ import annotations

import time
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
import requests
from sqlalchemy import update
from sqlmodel import Session, select

from dispatch.models import Alert
from tests.browser.conftest import login_page
from tests.factories import PASSWORD, ROUTE
from tests.live import LiveServer

# The browser's zone and language: the live map and the board write times in them ("14:02 EET" in en-GB).
ZONE, LOCALE = "Europe/Helsinki", "en-GB"


@pytest.fixture
def live(app, world, tmp_path):
    """Serve the test database, sweeping every 0.3 s with the wall clock (as a served app does)."""
    url = app.extensions["escort"].engine.url.render_as_string(hide_password=False)
    with LiveServer(url, tmp_path, ESCORT_SWEEP_INTERVAL_S="0.3") as server:
        yield server


def _panic(live, world) -> None:
    """Raise a panic the way the Traccar Client does (OsmAnd, alarm=sos)."""
    resp = requests.get(f"{live.url}/osmand", params={"id": world.device_token, "lat": ROUTE[1][0], "lon": ROUTE[1][1],
                                                      "timestamp": int(time.time()), "alarm": "sos"}, timeout=5)
    assert resp.status_code == 200, resp.text


def _unanswered_for(app, seconds: float) -> Alert:
    """Make the open panic look raised ``seconds`` ago, so the server's next sweep takes one step; return it."""
    with Session(app.extensions["escort"].engine) as s:
        raised_at = s.exec(select(Alert.raised_at).where(Alert.kind == "panic")).one()
        s.execute(update(Alert).where(Alert.kind == "panic").values(raised_at=raised_at - timedelta(seconds=seconds)))
        s.commit()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with Session(app.extensions["escort"].engine) as s:
            panic = s.exec(select(Alert).where(Alert.kind == "panic")).one()
        if panic.escalation_level == 1:
            return panic
        time.sleep(0.1)
    raise AssertionError("the server's sweep did not escalate the panic")


def _map_and_board_with_a_panic(browser, live, world):
    """Open the live map and the board in the dispatcher's zone, then raise a panic; return both pages."""
    page = login_page(browser, live, "dan", PASSWORD, timezone_id=ZONE, locale=LOCALE)
    page.goto(f"{live.url}/dispatch")
    page.locator("#conn-status", has_text="live").wait_for()
    board = page.context.new_page()
    board.goto(f"{live.url}/dispatch/board")
    board.wait_for_function("() => document.body.dataset.live === '1'")
    _panic(live, world)
    return page, board


def _polite(page) -> str:
    return page.locator("#announce-polite").text_content() or ""


def test_the_live_map_and_the_board_say_whom_an_unanswered_alert_reached_and_when(browser, live, world, app):
    page, board = _map_and_board_with_a_panic(browser, live, world)
    card = page.locator("#alert-list li[data-kind='panic']")
    card.wait_for(timeout=5000)
    assert "Escalated" not in card.text_content()
    page.evaluate("() => { window.notReloaded = true; }")

    panic = _unanswered_for(app, 130)
    at = panic.escalated_at.astimezone(ZoneInfo(ZONE)).strftime("%H:%M")
    words = f"Escalated to the dispatcher on duty at {at} EET"
    try:
        page.wait_for_function("w => document.querySelector(\"#alert-list li[data-kind='panic']\").textContent.includes(w)",
                               arg=words, timeout=5000)
    except Exception:
        raise AssertionError(f"the card says {card.text_content()!r}, not {words!r}") from None
    assert page.evaluate("() => window.notReloaded") is True, "the card changed in place, without a reload"
    page.wait_for_function("() => document.querySelector('#announce-polite').textContent.includes('Escalated to')",
                           timeout=5000)
    assert "PANIC" in _polite(page) and "Pat Example" in _polite(page)
    assert "Escalated" not in (page.locator("#announce-urgent").text_content() or ""), "a step is said politely"

    row = board.locator(f"#board-trip-{world.trip.id} .c-alerts")
    board.wait_for_function("w => document.querySelector('#board-trip-%d .c-alerts').textContent.includes(w)"
                            % world.trip.id, arg=f"panic (escalated to the dispatcher on duty at {at}", timeout=5000)
    assert row.text_content().startswith("1 open")
    board.wait_for_function("() => document.querySelector('#announce-polite').textContent.includes('escalated to')",
                            timeout=5000)

    # A copy read just before the sweep claimed the step, stamped the same time, arrives late (another
    # process told it): the step stays on the card.
    page.evaluate("""() => {
        const now = Object.values(window.dispatchState.alerts).find(a => a.kind === "panic");
        const late = Object.assign({}, now, { escalation_level: 0, escalated_at: null, escalated_to: null });
        window.dispatchState.socket.listeners("alert").forEach(fn => fn(late));
    }""")
    assert words in card.text_content(), "a late copy does not take the step back"

    # A reload (or another dispatcher opening the map) says the same from the snapshot.
    page.reload()
    card.wait_for(timeout=5000)
    page.wait_for_function("w => document.querySelector(\"#alert-list li[data-kind='panic']\").textContent.includes(w)",
                           arg=words, timeout=5000)


def test_the_trip_page_says_it_in_the_services_time_and_its_timeline(browser, live, world, app):
    page = login_page(browser, live, "dan", PASSWORD)
    page.goto(f"{live.url}/dispatch/trips/{world.trip.id}")
    page.wait_for_function("() => document.body.dataset.live === '1'")
    _panic(live, world)
    card = page.locator("#open-alerts li[data-kind='panic']")
    card.wait_for(timeout=5000)
    assert "Escalated" not in card.text_content()

    panic = _unanswered_for(app, 130)
    at = panic.escalated_at.strftime("%Y-%m-%d %H:%M:%S")  # the service's zone (ESCORT_TIMEZONE) is UTC here
    words = f"Escalated to the dispatcher on duty at {at} UTC"
    page.wait_for_function("w => document.querySelector(\"#open-alerts li[data-kind='panic']\").textContent.includes(w)",
                           arg=words, timeout=5000)
    page.wait_for_function("() => document.querySelector('#announce-polite').textContent.includes('Escalated to')",
                           timeout=5000)
    assert "Escalated" not in (page.locator("#announce-urgent").text_content() or "")
    assert page.locator("#trip-timeline li", has_text="Escalation step 1 (dispatcher on duty) for panic").count() == 1


def test_a_step_taken_while_the_connection_was_down_is_said_after_the_reconnect(browser, live, world, app):
    page, board = _map_and_board_with_a_panic(browser, live, world)
    page.locator("#alert-list li[data-kind='panic']").wait_for(timeout=5000)
    board.wait_for_function("() => document.querySelector('#board-trip-%d .c-alerts').textContent.includes('panic')"
                            % world.trip.id, timeout=5000)

    # The dispatcher's network drops: both pages lose the server while the sweep takes a step.
    page.evaluate("() => window.dispatchState.socket.disconnect()")
    board.evaluate("() => window.boardState.socket.disconnect()")
    _unanswered_for(app, 130)
    time.sleep(0.5)  # the step's live copy went out to nobody here
    assert "Escalated" not in _polite(page) and "escalated" not in _polite(board)

    page.evaluate("() => window.dispatchState.socket.connect()")
    board.evaluate("() => window.boardState.socket.connect()")
    try:
        page.wait_for_function("() => document.querySelector('#announce-polite').textContent.includes('Escalated to')",
                               timeout=5000)
        board.wait_for_function("() => document.querySelector('#announce-polite').textContent.includes('escalated to')",
                                timeout=5000)
    except Exception:
        raise AssertionError(f"after the reconnect the map said {_polite(page)!r} and the board {_polite(board)!r}") \
            from None
    assert "PANIC" in _polite(page) and "Pat Example" in _polite(page)
    assert f"Trip {world.trip.id}: panic alert escalated to the dispatcher on duty" in _polite(board)
    assert "Escalated" not in (page.locator("#announce-urgent").text_content() or ""), "a step is said politely"
