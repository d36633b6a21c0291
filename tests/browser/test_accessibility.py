"""axe-core (vendored from npm) finds nothing serious or critical on the dispatcher's pages and the error pages."""

from __future__ import annotations

import time

import requests

from tests.app.test_error_pages import server_error_page
from tests.browser.conftest import login_page
from tests.factories import PASSWORD, ROUTE, fix_payload

AXE = "/static/vendor/axe-core/axe.min.js"
SERIOUS = """async () => {
  const result = await axe.run(document, { resultTypes: ["violations"] });
  return result.violations.filter(v => v.impact === "serious" || v.impact === "critical")
    .map(v => v.id + " (" + v.impact + "): " + v.nodes.slice(0, 3).map(n => n.target.join(" ")).join(" | "));
}"""


def audit(page, live) -> list[str]:
    """Load the vendored axe-core into the page (same origin: the CSP allows it) and return serious violations."""
    page.add_script_tag(url=f"{live.url}{AXE}")
    return page.evaluate(SERIOUS)


def test_dispatcher_pages_have_no_serious_violations(browser, live, world):
    requests.post(f"{live.url}/api/v1/fixes", json=[fix_payload(1, lat=ROUTE[1][0], lon=ROUTE[1][1])],
                  headers={"Authorization": f"Bearer {world.device_token}"}, timeout=5)
    requests.get(f"{live.url}/osmand", params={"id": world.device_token, "lat": ROUTE[1][0], "lon": ROUTE[1][1],
                                               "timestamp": int(time.time()), "alarm": "sos"}, timeout=5)
    page = login_page(browser, live, "dan", PASSWORD)
    page.locator("#alert-list li[data-kind='panic']").wait_for(timeout=5000)
    page.wait_for_function(f"() => document.querySelector('path.trip-{world.trip.id}') !== null")
    found = {"/dispatch": audit(page, live)}
    for path in (f"/dispatch/trips/{world.trip.id}", "/trips", f"/trips/{world.trip.id}",
                 # The dispatcher's day (issue #14).
                 "/dispatch/board", "/dispatch/trips/new", f"/dispatch/trips/{world.trip.id}/edit",
                 "/dispatch/standing-orders"):
        page.goto(f"{live.url}{path}")
        page.wait_for_load_state("networkidle")
        found[path] = audit(page, live)
    admin = login_page(browser, live, "ada", PASSWORD)
    admin.goto(f"{live.url}/admin/audit")
    found["/admin/audit"] = audit(admin, live)
    assert {path: v for path, v in found.items() if v} == {}


def test_error_pages_are_the_apps_own_and_have_no_serious_violations(browser, live, world, tmp_path):
    page = login_page(browser, live, "cora", PASSWORD)
    found = {}
    for path, code in (("/dispatch", 403), ("/no-such-page", 404)):
        resp = page.goto(f"{live.url}{path}")
        assert resp.status == code
        assert page.locator("#error-page").is_visible() and page.get_by_role("heading", level=1).is_visible()
        found[code] = audit(page, live)
    # The 500 page as a real failure produced it (a database that became unreadable), shown at this server's
    # address so its stylesheet and axe-core load as on any page.
    status, html = server_error_page(tmp_path / "broken")
    assert status == 500
    page.route(f"{live.url}/broken", lambda route: route.fulfill(status=500, body=html, content_type="text/html"))
    resp = page.goto(f"{live.url}/broken")
    assert resp.status == 500 and "Something went wrong" in page.get_by_role("heading", level=1).inner_text()
    found[500] = audit(page, live)
    assert {code: v for code, v in found.items() if v} == {}


def test_the_escorts_tablet_has_no_serious_violations_in_either_theme(browser, live, world):
    """The tablet by day and with "Dark screen" on (kept in localStorage; see tests/browser/test_tablet_night.py)."""
    found = {}
    for theme, stored in (("light", "0"), ("dark", "1")):
        page = login_page(browser, live, "eve", PASSWORD, viewport={"width": 1024, "height": 768})
        page.add_init_script(f"localStorage.setItem('escort.dark-screen.v1', '{stored}')")
        page.reload()
        page.wait_for_load_state("networkidle")
        assert page.evaluate("document.documentElement.classList.contains('theme-dark')") is (theme == "dark")
        found[theme] = audit(page, live)
        page.context.close()
    assert {theme: v for theme, v in found.items() if v} == {}


def test_the_responders_live_page_and_its_end_have_no_serious_violations(browser, live, world, session):
    """A responder's live link (issue #16), open and ended, opened with no login."""
    from app.db import utcnow
    from dispatch import live_links
    from dispatch.models import Alert

    now = utcnow()
    alert = Alert(trip_id=world.trip.id, device_id=world.device.id, kind="panic", open_key=f"trip:{world.trip.id}:panic",
                  raised_at=now, updated_at=now, detail={"lat": ROUTE[1][0], "lon": ROUTE[1][1]}, place="Station Road")
    session.add(alert)
    session.flush()
    made = live_links.create(session, alert, now=now, minutes=60)
    session.commit()
    page = browser.new_context().new_page()
    found = {}
    for path, code in ((f"/live/{made.token}", 200), ("/live/no-such-link", 404)):
        resp = page.goto(f"{live.url}{path}")
        assert resp.status == code
        page.wait_for_load_state("networkidle")
        found[code] = audit(page, live)
    assert {code: v for code, v in found.items() if v} == {}
