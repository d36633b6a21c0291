"""In Chromium at tablet and phone sizes: help one hold away on every state, where to go, focus, battery."""

from __future__ import annotations

import pytest
import requests
from sqlmodel import select

from app.auth import hash_secret
from dispatch.models import Alert, Trip
from tests.browser.conftest import login_page
from tests.browser.test_accessibility import audit
from tests.factories import PASSWORD, ROUTE
from tests.live import LiveServer, wait_until

SIZES = [(1024, 768), (768, 1024), (390, 844), (844, 390)]
DISPATCH_PHONE = "+44 20 7946 0999"
HERE = {"latitude": ROUTE[1][0], "longitude": ROUTE[1][1], "accuracy": 8}

# The SOS control's box, and whether it lies wholly inside the viewport, after scrolling to the very end.
SOS_BOX = """() => {
  window.scrollTo(0, document.documentElement.scrollHeight);
  const r = document.querySelector('#panic').getBoundingClientRect();
  const inside = r.top >= 0 && r.left >= 0 && r.bottom <= innerHeight && r.right <= innerWidth && r.width >= 48;
  const hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
  return {inside, onTop: !!hit && !!hit.closest('#panic'), right: Math.round(innerWidth - r.right),
          bottom: Math.round(innerHeight - r.bottom), width: Math.round(r.width)};
}"""

# A Battery Status API answer of 12 %, unplugged: headless Chromium has no battery to read.
LOW_BATTERY = """
Object.defineProperty(navigator, 'getBattery', { configurable: true, value: () => {
  const battery = new EventTarget();
  battery.level = 0.12; battery.charging = false; battery.chargingTime = Infinity; battery.dischargingTime = 1800;
  return Promise.resolve(battery);
}});
"""


@pytest.fixture
def tablet_live(app, world, tmp_path):
    """Serve the test database with a dispatch phone number configured (the emergency number stays 112)."""
    url = app.extensions["escort"].engine.url.render_as_string(hide_password=False)
    with LiveServer(url, tmp_path, ESCORT_DISPATCH_PHONE=DISPATCH_PHONE) as server:
        yield server


def _tablet(browser, live, **options):
    """Open eve's tablet with emulated geolocation, online."""
    page = login_page(browser, live, "eve", PASSWORD, geolocation=HERE, permissions=["geolocation"],
                      viewport={"width": 1024, "height": 768}, **options)
    page.wait_for_function("() => document.querySelector('#conn-status').textContent.includes('online')")
    return page


def _sos_everywhere(page, state: str, places: dict) -> None:
    """Assert the SOS control is inside the viewport, uncovered, in the same place at every size, for this state."""
    for width, height in SIZES:
        page.set_viewport_size({"width": width, "height": height})
        box = page.evaluate(SOS_BOX)
        assert box["inside"] and box["onTop"], f"SOS not reachable at {width}x{height} when {state}: {box}"
        where = (box["right"], box["bottom"], box["width"])
        assert places.setdefault((width, height), where) == where, f"SOS moved at {width}x{height} when {state}"
    page.set_viewport_size({"width": 1024, "height": 768})


def test_sos_is_in_the_same_corner_on_every_state_and_size_and_a_held_space_reaches_dispatch(
        browser, tablet_live, world, session):
    live = tablet_live
    world.trip.status = "completed"
    session.add(world.trip)
    session.commit()
    places: dict = {}
    page = _tablet(browser, live)
    assert page.locator("#no-trip").is_visible()
    _sos_everywhere(page, "idle", places)
    # Its accessible name is its visible text (a voice-control user says what they see).
    visible = " ".join(page.locator("#panic").inner_text().split())
    assert visible == "SOS hold 2 s" and page.get_by_role("button", name=visible, exact=True).count() == 1
    assert page.get_by_role("link", name="Call dispatch").get_attribute("href") == "tel:+442079460999"
    assert page.get_by_role("link", name="Emergency 112").get_attribute("href") == "tel:112"

    trip = world.make_trip(status="assigned", settings={"checkin_interval_s": 1, "checkin_grace_s": 3600})
    page.reload()
    page.wait_for_selector("#trip-status[data-status='assigned']")
    _sos_everywhere(page, "trip assigned", places)

    # Under way: focus follows the escort's own status change to the new status, which is said aloud.
    page.get_by_role("button", name="On my way to pickup").click()
    page.wait_for_selector("#trip-status[data-status='en_route_pickup']")
    assert page.evaluate("document.activeElement.id") == "trip-status"
    assert page.locator("#checkin-announce").text_content() == "Status: On my way to pickup."
    assert page.locator("#checkin-announce").get_attribute("aria-live") == "polite"
    _sos_everywhere(page, "under way", places)

    page.wait_for_function("() => document.querySelector('#checkin-due').textContent.startsWith('Check-in due now')")
    _sos_everywhere(page, "check-in due", places)

    dan = login_page(browser, live, "dan", PASSWORD)
    dan.wait_for_function("() => document.querySelector('#conn-status').textContent.includes('live')")
    # A tap of Space is not a hold: nothing is sent.
    page.focus("#panic")
    page.keyboard.press("Space")
    page.wait_for_timeout(2500)
    session.expire_all()
    assert session.exec(select(Alert).where(Alert.kind == "panic")).all() == []
    # Held for the hold time: the panic reaches the dispatcher's page; the tablet shows nothing different.
    before = page.locator("main").inner_text()
    page.keyboard.down("Space")
    page.wait_for_timeout(2600)
    page.keyboard.up("Space")
    dan.locator("#alert-list li[data-kind='panic']").wait_for(timeout=10000)
    assert page.locator("main").inner_text() == before
    session.expire_all()
    [panic] = session.exec(select(Alert).where(Alert.kind == "panic")).all()
    assert panic.trip_id == trip.id
    _sos_everywhere(page, "after panic", places)


def test_the_map_shows_the_route_and_the_links_go_to_the_next_stop(browser, live, world, session):
    page = _tablet(browser, live)
    gap = page.evaluate("() => document.querySelector('#checkin-form').getBoundingClientRect().top"
                        " - document.querySelector('#status-buttons').getBoundingClientRect().bottom")
    assert 0 <= gap <= 20, f"an empty gap of {gap} px above the check-in"
    page.wait_for_selector("#tablet-map path.planned-route", state="attached")
    page.wait_for_selector("#tablet-map path.my-position", state="attached")
    page.wait_for_selector("#tablet-map path.next-stop-dropoff", state="attached")
    lat, lon = ROUTE[-1]
    ll = f"{lat:.6f},{lon:.6f}"
    assert page.locator("#next-stop-heading").text_content() == "Next stop: Drop-off"
    assert page.locator("#next-stop-place").text_content() == f"At {lat:.5f}, {lon:.5f}"  # no address yet: coordinates
    assert page.locator("#nav-geo").get_attribute("href").startswith(f"geo:{ll}?q={ll}(")
    assert f"destination={ll}" in page.get_by_role("link", name="Google Maps").get_attribute("href")
    assert f"daddr={ll}" in page.get_by_role("link", name="Apple Maps").get_attribute("href")
    osmand = page.get_by_role("link", name="OsmAnd").get_attribute("href")
    assert osmand.startswith("https://osmand.net/map/?") and f"finish={ll}" in osmand
    assert f"start={HERE['latitude']:.6f},{HERE['longitude']:.6f}" in osmand, "from where the escort is"
    drawn = page.evaluate("() => window.escortMap.state.route.getLatLngs().map(p => [p.lat, p.lng])")
    assert drawn == [list(p) for p in ROUTE]
    me = page.evaluate("() => { const p = window.escortMap.state.me.getLatLng(); return [p.lat, p.lng]; }")
    assert me == [HERE["latitude"], HERE["longitude"]]

    # Before the patient is on board the next stop is the pickup.
    world.trip.status = "completed"
    session.add(world.trip)
    session.commit()
    world.make_trip(status="en_route_pickup")
    page.reload()
    page.wait_for_selector("#tablet-map path.next-stop-pickup", state="attached")
    assert page.locator("#next-stop-heading").text_content() == "Next stop: Pickup"
    assert f"destination={ROUTE[0][0]:.6f},{ROUTE[0][1]:.6f}" in page.locator("#nav-google").get_attribute("href")


def test_a_low_battery_reaches_dispatch_and_raises_one_alert(browser, live, world, session):
    dan = login_page(browser, live, "dan", PASSWORD)
    dan.wait_for_function("() => document.querySelector('#conn-status').textContent.includes('live')")
    page = login_page(browser, live, "eve", PASSWORD, geolocation=HERE, permissions=["geolocation"])
    page.add_init_script(LOW_BATTERY)
    page.reload()
    page.wait_for_function("() => document.querySelector('#battery-status').textContent === '12 %'")
    for lat, lon in ROUTE[1:4]:  # three more positions, each with the same low level
        page.context.set_geolocation({"latitude": lat, "longitude": lon, "accuracy": 8})
        page.wait_for_function(f"() => window.escortMap.state.lat === {lat}", timeout=10000)
    page.wait_for_function("() => Number(document.querySelector('#fixes-sent').textContent) >= 3", timeout=10000)
    dan.locator("#alert-list li[data-kind='low_battery']").wait_for(timeout=10000)
    dan.wait_for_function(f"() => document.querySelector(\"#trip-list li[data-trip-id='{world.trip.id}']\")"
                          ".textContent.includes('battery 12 %')", timeout=10000)
    assert dan.locator("#alert-list li[data-kind='low_battery']").count() == 1
    session.expire_all()
    assert len(session.exec(select(Alert).where(Alert.kind == "low_battery")).all()) == 1


def test_pins_set_during_a_trip_are_asked_for_at_its_end_without_a_reload(browser, live, world, session):
    page = _tablet(browser, live)
    page.get_by_text("Set my PINs").click()
    assert not page.locator("#pins-current").is_visible()
    page.get_by_label("New safe PIN").fill("2468")
    page.get_by_label("New duress PIN").fill("1357")
    page.get_by_role("button", name="Save PINs").click()
    page.wait_for_function("() => document.querySelector('#pins-result').textContent === 'PINs saved.'")
    assert page.get_by_label("Current PIN").is_visible(), "a second change needs the current PIN"
    page.get_by_role("button", name="Arrived at drop-off").click()
    page.wait_for_selector("#trip-status[data-status='arrived_dropoff']")
    page.locator("#status-buttons button[data-status='completed']").click()
    end = page.get_by_label("Enter your PIN to end the trip")
    end.wait_for()
    assert page.evaluate("document.activeElement.id") == "end-pin"
    end.fill("2468")
    page.get_by_role("button", name="End trip").click()
    page.wait_for_selector("#trip-status[data-status='completed']")
    session.expire_all()
    assert session.get(Trip, world.trip.id).status == "completed"


def test_gps_denied_says_how_to_allow_it(browser, live, world):
    page = login_page(browser, live, "eve", PASSWORD)  # no geolocation permission
    page.wait_for_function("() => document.querySelector('#gps-status').textContent === 'GPS denied'", timeout=10000)
    help_text = page.locator("#gps-help")
    assert help_text.is_visible() and "set Location to Allow" in help_text.text_content()


def test_the_tablet_installs_and_axe_finds_nothing_serious(browser, tablet_live, world, session):
    live = tablet_live
    world.users["escort"].safe_pin_hash = hash_secret("2468")
    session.add(world.users["escort"])
    session.commit()
    page = _tablet(browser, live)
    page.wait_for_selector("#tablet-map path.planned-route", state="attached")
    manifest = page.evaluate("""async () => {
      const href = document.querySelector('link[rel=manifest]').href;
      const resp = await fetch(href);
      return {type: resp.headers.get('content-type'), body: await resp.json()};
    }""")
    assert manifest["type"].startswith("application/manifest+json")
    assert manifest["body"]["start_url"] == "/escort" and manifest["body"]["display"] == "standalone"
    sizes = {icon["sizes"] for icon in manifest["body"]["icons"]}
    assert {"192x192", "512x512"} <= sizes
    for icon in manifest["body"]["icons"]:
        assert page.request.get(f"{live.url}{icon['src']}").headers["content-type"] == "image/png"
    for width, height in ((1024, 768), (390, 844)):
        page.set_viewport_size({"width": width, "height": height})
        assert audit(page, live) == [], f"at {width}x{height}"
    # The phone header keeps to one line.
    page.set_viewport_size({"width": 390, "height": 844})
    assert page.evaluate("() => document.querySelector('header.topbar').getBoundingClientRect().height") < 60


def test_the_patient_sheet_has_the_same_sos_and_a_held_one_reaches_dispatch(browser, tablet_live, world, session):
    live = tablet_live
    page = _tablet(browser, live)
    places: dict = {}
    _sos_everywhere(page, "on the tablet", places)
    page.get_by_role("link", name="Patient sheet").click()
    page.wait_for_selector("#sheet-name")
    page.wait_for_load_state("load")  # its stylesheets too: an unstyled dock is not where the escort sees it
    _sos_everywhere(page, "on the patient sheet", places)  # the same corner as on the tablet
    assert page.get_by_role("link", name="Call dispatch").get_attribute("href") == "tel:+442079460999"
    assert audit(page, live) == []
    page.wait_for_function("() => window.escortHelp.socket.connected")  # the sheet's own /device connection
    page.focus("#panic")
    page.keyboard.down("Enter")
    page.wait_for_timeout(2600)
    page.keyboard.up("Enter")

    def panics():
        session.expire_all()
        return session.exec(select(Alert).where(Alert.kind == "panic")).all()
    assert wait_until(lambda: len(panics()) == 1, timeout_s=10)
    assert panics()[0].trip_id == world.trip.id


# Records the page's wake lock requests: headless Chromium refuses real ones (no screen to keep on).
WATCH_WAKE_LOCK = """
window.wakeLocks = [];
Object.defineProperty(navigator, 'wakeLock', { configurable: true, value: { request: (type) => {
  const lock = new EventTarget();
  lock.type = type; lock.released = false;
  lock.release = () => { lock.released = true; lock.dispatchEvent(new Event('release')); return Promise.resolve(); };
  window.wakeLocks.push(lock);
  return Promise.resolve(lock);
}}});
"""


def test_the_screen_stays_on_while_a_trip_is_under_way(browser, live, world, session):
    world.trip.status = "completed"
    session.add(world.trip)
    session.commit()
    world.make_trip(status="assigned")
    page = login_page(browser, live, "eve", PASSWORD, geolocation=HERE, permissions=["geolocation"])
    page.add_init_script(WATCH_WAKE_LOCK)
    page.reload()
    page.wait_for_function("() => document.querySelector('#conn-status').textContent.includes('online')")
    assert page.evaluate("window.wakeLocks.length") == 0, "assigned is not under way yet"
    page.get_by_role("button", name="On my way to pickup").click()
    page.wait_for_function("() => window.wakeLocks.length === 1 && window.wakeLocks[0].type === 'screen'")
    page.wait_for_function("() => document.querySelector('#wake-status').textContent === 'kept on during the trip'")
    # Hidden, the browser drops the lock; shown again, the page takes a new one.
    page.evaluate("() => { window.wakeLocks[0].dispatchEvent(new Event('release'));"
                  " document.dispatchEvent(new Event('visibilitychange')); }")
    page.wait_for_function("() => window.wakeLocks.length === 2")
    for name in ("Arrived at pickup", "Patient on board", "Arrived at drop-off", "Trip completed"):
        page.get_by_role("button", name=name).click()
        page.wait_for_function(f"() => document.querySelector('#trip-status').textContent === {name!r}")
    page.wait_for_function("() => window.wakeLocks[1].released === true")
    assert page.locator("#wake-status").text_content() == "may sleep"
    assert page.evaluate("window.wakeLocks.length") == 2


def test_a_status_changed_by_dispatch_is_said_aloud_and_leaves_focus_alone(browser, live, world):
    page = _tablet(browser, live)
    page.focus("#checkin-pin")
    resp = requests.post(f"{live.url}/api/v1/trips/{world.trip.id}/status", json={"status": "arrived_dropoff"},
                         headers=world.bearer("dan"), timeout=10)
    assert resp.status_code == 200, resp.text
    page.wait_for_function("() => document.querySelector('#checkin-announce').textContent"
                           " === 'Status: Arrived at drop-off.'", timeout=10000)
    assert page.locator("#trip-status").text_content() == "Arrived at drop-off"
    assert page.evaluate("document.activeElement.id") == "checkin-pin"


def test_the_tablet_shows_the_allowed_stops_in_words_on_the_map_and_under_the_next_stop(browser, live, world, session):
    pharmacy = "Pharmacy <b>Apteekki</b>, Mannerheimintie 5"
    world.trip.allowed_stops = [{"lat": ROUTE[2][0], "lon": ROUTE[2][1], "radius_m": 60, "address": pharmacy}]
    session.add(world.trip)
    session.commit()
    page = _tablet(browser, live)
    stops = page.get_by_role("list", name="Allowed stops")
    assert [li.inner_text() for li in stops.get_by_role("listitem").all()] == [pharmacy]
    assert page.locator("#allowed-stops b").count() == 0, "an address is text, never HTML"
    assert page.get_by_text("Stopping at one of these raises no alert.").is_visible()
    page.wait_for_selector("#tablet-map path.allowed-stop", state="attached")
    labels = page.locator("#tablet-map .leaflet-tooltip").all_inner_texts()
    assert f"Allowed stop 1: {pharmacy}" in labels, labels
    assert page.locator("#tablet-map .leaflet-tooltip b").count() == 0
    assert audit(page, live) == []

    # A dispatcher adds a stop with no address while the trip is under way: the tablet shows it in place.
    resp = requests.patch(f"{live.url}/api/v1/trips/{world.trip.id}", headers=world.bearer("dan"), timeout=10,
                          json={"allowed_stops": [{"lat": ROUTE[2][0], "lon": ROUTE[2][1]},
                                                  {"lat": ROUTE[3][0], "lon": ROUTE[3][1]}]})
    assert resp.status_code == 200, resp.text
    second = f"At {ROUTE[3][0]:.5f}, {ROUTE[3][1]:.5f}"
    stops.get_by_text(second).wait_for(timeout=10000)
    assert page.locator("#tablet-map path.allowed-stop").count() == 2
    labels = page.locator("#tablet-map .leaflet-tooltip").all_inner_texts()
    assert f"Allowed stop 2: {second}" in labels, labels

    # No allowed stops: no list.
    assert requests.patch(f"{live.url}/api/v1/trips/{world.trip.id}", headers=world.bearer("dan"), timeout=10,
                          json={"allowed_stops": []}).status_code == 200
    page.wait_for_function("() => document.querySelector('#allowed-stops').hidden")
    assert page.locator("#tablet-map path.allowed-stop").count() == 0
