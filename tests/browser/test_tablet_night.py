"""In Chromium: the tablet's "Dark screen" switch for a car at night — a real toggle button, kept over a reload,
applied before the first paint, every text readable (axe-core) in both themes, SOS where and as it was."""

from __future__ import annotations

import requests

from app.db import utcnow
from patients import sheet
from patients.schemas import SheetFields
from tests.browser.conftest import login_page
from tests.browser.test_accessibility import audit
from tests.factories import PASSWORD, ROUTE

HERE = {"latitude": ROUTE[1][0], "longitude": ROUTE[1][1], "accuracy": 8}
KEY = "escort.dark-screen.v1"

# Records the <html> classes at the first animation frame: it runs before the page is first painted.
FIRST_FRAME = """
window.firstFrameClass = null;
requestAnimationFrame(() => { window.firstFrameClass = document.documentElement.className; });
"""

SOS = """() => {
  const el = document.querySelector('#panic'), r = el.getBoundingClientRect(), s = getComputedStyle(el);
  return {right: Math.round(innerWidth - r.right), bottom: Math.round(innerHeight - r.bottom),
          width: Math.round(r.width), height: Math.round(r.height), background: s.backgroundColor, color: s.color,
          font: s.fontSize};
}"""

BACKGROUND = "() => getComputedStyle(document.body).backgroundColor"


def _luminance(rgb: str) -> float:
    r, g, b = (int(v) / 255 for v in rgb[rgb.index("(") + 1:rgb.index(")")].split(",")[:3])
    lin = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in (r, g, b)]
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]


def _open(browser, live):
    page = login_page(browser, live, "eve", PASSWORD, geolocation=HERE, permissions=["geolocation"],
                      viewport={"width": 1024, "height": 768})
    page.add_init_script(FIRST_FRAME)
    page.reload()
    page.wait_for_function("() => document.querySelector('#conn-status').textContent.includes('online')")
    page.wait_for_selector("#tablet-map path.planned-route", state="attached")
    return page


def test_the_dark_screen_switch_is_kept_over_a_reload_and_readable_with_sos_unchanged(browser, live, world, session):
    trip = world.trip
    # Under way with a check-in overdue at once (the red "due now" text) and a message from dispatch on the line.
    trip.settings = {"checkin_interval_s": 1, "checkin_grace_s": 3600, "signal_lost_after_s": 86400}
    session.add(trip)
    session.commit()
    resp = requests.post(f"{live.url}/api/v1/trips/{trip.id}/messages", json={"text": "Gate code 4411"},
                         headers=world.bearer("dan"), timeout=10)
    assert resp.status_code == 201, resp.text
    page = _open(browser, live)
    page.wait_for_function("() => document.querySelector('#checkin-due').textContent.startsWith('Check-in due now')")
    page.get_by_text("Gate code 4411").wait_for()

    switch = page.get_by_role("button", name="Dark screen")
    assert switch.get_attribute("aria-pressed") == "false"
    assert page.evaluate("document.documentElement.classList.contains('theme-dark')") is False
    assert _luminance(page.evaluate(BACKGROUND)) > 0.8, "the day theme is light"
    light_sos = {}
    for width, height in ((1024, 768), (390, 844), (844, 390)):
        page.set_viewport_size({"width": width, "height": height})
        light_sos[(width, height)] = page.evaluate(SOS)
        assert audit(page, live) == [], f"light theme at {width}x{height}"

    page.set_viewport_size({"width": 1024, "height": 768})
    switch.click()
    assert switch.get_attribute("aria-pressed") == "true"
    assert page.evaluate(f"localStorage.getItem('{KEY}')") == "1"
    assert _luminance(page.evaluate(BACKGROUND)) < 0.01, "the night theme is dark"
    assert page.evaluate("document.querySelector('meta[name=theme-color]').content") == "#000000"
    for width, height in ((1024, 768), (390, 844), (844, 390)):
        page.set_viewport_size({"width": width, "height": height})
        assert page.evaluate(SOS) == light_sos[(width, height)], f"SOS moved or changed at {width}x{height}"
        assert audit(page, live) == [], f"dark theme at {width}x{height}"
        header_px = page.evaluate("() => document.querySelector('header.topbar').getBoundingClientRect().height")
        assert header_px < 60, f"the header wraps at {width}x{height}"

    # Reloaded: dark from the first frame (no white flash), the switch still pressed.
    page.set_viewport_size({"width": 1024, "height": 768})
    page.reload()
    page.wait_for_function("() => window.firstFrameClass !== null")
    assert "theme-dark" in page.evaluate("window.firstFrameClass")
    switch = page.get_by_role("button", name="Dark screen")
    assert switch.get_attribute("aria-pressed") == "true"
    # The theme is set by a script file in <head> that runs as it is read (not deferred; no inline script).
    head_script = page.evaluate("""() => [...document.head.querySelectorAll('script')]
      .filter(s => s.src.endsWith('/js/escort-theme.js')).map(s => ({defer: s.defer, async: s.async}))""")
    assert head_script == [{"defer": False, "async": False}]

    # By keyboard too (a real button): off again, and kept off.
    switch.focus()
    page.keyboard.press("Space")
    assert switch.get_attribute("aria-pressed") == "false"
    assert page.evaluate(f"localStorage.getItem('{KEY}')") == "0"
    page.reload()
    page.wait_for_function("() => window.firstFrameClass !== null")
    assert "theme-dark" not in page.evaluate("window.firstFrameClass")
    assert page.get_by_role("button", name="Dark screen").get_attribute("aria-pressed") == "false"


def test_the_dark_screen_has_no_serious_violations_with_no_trip_and_at_the_last_steps(browser, live, world, session):
    # The last steps show the red-edged terminal buttons ("Trip completed", "Report incident").
    trip = world.trip
    trip.status = "arrived_dropoff"
    session.add(trip)
    session.commit()
    page = _open(browser, live)
    page.get_by_role("button", name="Dark screen").click()
    page.get_by_role("button", name="Report incident").click()  # the second-tap confirmation: white on red
    assert page.get_by_role("button", name="Tap again: Report incident").is_visible()
    assert audit(page, live) == []
    page.set_viewport_size({"width": 390, "height": 844})
    assert audit(page, live) == []
    # The phone header keeps to one line with the switch on the page.
    assert page.evaluate("() => document.querySelector('header.topbar').getBoundingClientRect().height") < 60
    sos_on_tablet = page.evaluate(SOS)

    # The patient sheet opened from the dark tablet is dark from its first frame too, readable, SOS as it was.
    body = SheetFields.model_validate({
        "contacts": [{"name": "Sam Example", "phone": "+44 20 7946 0000", "relation": "daughter"}],
        "cognitive": {"wandering_risk": "high", "guidance": "Hold her arm at kerbs."}, "stairs_count": 3,
    })
    sheet.apply(session, world.patient, body, now=utcnow())
    session.add(world.patient)
    session.commit()
    page.get_by_role("link", name="Patient sheet").click()
    page.wait_for_selector("#sheet-contacts")
    page.wait_for_load_state("load")
    page.wait_for_function("() => window.firstFrameClass !== null")
    assert "theme-dark" in page.evaluate("window.firstFrameClass")
    assert page.locator(".tag.warn").count() >= 1
    assert _luminance(page.evaluate(BACKGROUND)) < 0.01
    on_sheet = page.evaluate(SOS)
    # The sheet's base font differs from the tablet's (16 px, 20 px), so only the box and colours are compared.
    assert {k: v for k, v in on_sheet.items() if k != "font"} == {k: v for k, v in sos_on_tablet.items() if k != "font"}
    assert audit(page, live) == []
    page.go_back()
    page.wait_for_selector("#trip-status")

    trip.status = "completed"
    session.add(trip)
    session.commit()
    page.reload()
    page.wait_for_selector("#no-trip")
    assert page.get_by_role("button", name="Dark screen").get_attribute("aria-pressed") == "true"
    assert audit(page, live) == []


def test_the_eta_says_how_it_was_reckoned_when_the_trip_data_tells(browser, live, world):
    page = _open(browser, live)
    shown = page.locator("#trip-eta").text_content()
    # The trip data names its source (the pickup-leg work): on board, along the planned route, by road.
    assert shown.startswith("ETA ") and shown.endswith(" km left (by road)"), shown
    words = page.evaluate("""() => [
      {eta_at: '2026-01-01T10:00:00Z', left_m: 3200, eta_to: 'pickup', eta_source: 'road'},
      {eta_at: '2026-01-01T10:00:00Z', left_m: 3200, eta_to: 'dropoff', eta_source: 'straight line'},
      {eta_at: '2026-01-01T10:00:00Z', left_m: 3200, eta_to: 'dropoff'},
      {eta_at: null, left_m: null, eta_to: null}].map(window.escortEtaText)""")
    assert words[0].endswith(" at pickup, 3.2 km left (by road)")
    assert words[1].endswith(" at drop-off, 3.2 km left (straight line, no road route)")
    assert words[2].endswith(" at drop-off, 3.2 km left")
    assert words[3] == ""
