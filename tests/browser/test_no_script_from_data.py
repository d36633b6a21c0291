"""Script typed into any field never runs on any page, for any role; the text shows as typed; the CSP holds."""

from __future__ import annotations

import re
import urllib.request
from datetime import timedelta

import pytest
from app.auth import create_api_token, create_user
from app.db import utcnow
from dispatch import alerts as alerts_mod
from dispatch import trips as trips_mod
from tests.browser.conftest import login_page
from tests.factories import PASSWORD, ROUTE
from tracking.devices import create_device


def _payloads(field: str) -> list[str]:
    """Return the four payload shapes for ``field``; each sets window.__xss and opens a dialog if it runs."""
    run = f"window.__xss='{field}';alert(1)"
    return [f'<img src=x onerror="{run}">{field}', f"<script>{run}</script>{field}",
            f'"><svg onload="{run}">{field}', f"javascript:{run}//{field}"]


def _one(field: str, shape: int) -> str:
    """Return one payload for ``field``."""
    return _payloads(field)[shape % 4]


# User names: one payload shape per role (every page shows who is logged in).
NAMES = {"admin": _one("adm", 0), "dispatcher": _one("dsp", 2), "escort": _one("esc", 1), "coordinator": _one("crd", 3)}

SHEET = {
    "name": _one("pname", 0), "member_id": _one("mid", 1), "language": _one("lang", 2),
    "home_address": _one("home", 3), "equipment": [{"name": _one("equip", 1)}],
    "conditions": [_one("cond", 2)], "allergies": [_one("allergy", 0)], "infection_control": _one("infect", 3),
    "cognitive": {"orientation": _one("orient", 0), "guidance": _one("guide", 1), "wandering_risk": "high"},
    "advance_directive": {"dnr": True, "document_location": _one("dnrdoc", 2)},
    "contacts": [{"name": _one("cname", 3), "phone": "+44 20 7946 0001", "relation": _one("crel", 0)}],
    "medications": [{"name": _one("medname", 1), "dose": _one("meddose", 2), "times": ["08:00"]}],
    "escort_notes": _one("enotes", 3), "dispatcher_notes": _one("dnotes", 0),
}
DEVICE_ON_TRIP, DEVICE_FREE = _one("dev1", 2), _one("dev2", 0)
ZONE_NAME, ZONE_REASON = _one("zname", 1), _one("zreason", 3)
ZONE_IMG = _one("zimg", 0)  # <img src=x onerror=…>: a zone drawn on /admin/places is named so
FLAG_LABEL, FLAG_REASON = _one("flabel", 0), _one("freason", 2)
NOTE, RESOLVE_NOTE, LOGIN_TRIED = _one("note", 1), _one("rnote", 3), _one("tried", 0)

# What the trip's patient sheet shows (the escort sees no dispatcher-only notes).
SHEET_TEXT = [SHEET["name"], SHEET["member_id"], SHEET["language"], SHEET["home_address"],
              SHEET["equipment"][0]["name"], SHEET["conditions"][0], SHEET["allergies"][0], SHEET["infection_control"],
              SHEET["cognitive"]["orientation"], SHEET["cognitive"]["guidance"],
              SHEET["advance_directive"]["document_location"], SHEET["contacts"][0]["name"],
              SHEET["contacts"][0]["relation"], SHEET["medications"][0]["name"], SHEET["medications"][0]["dose"],
              SHEET["escort_notes"]]

# Records securitypolicyviolation events before any page script runs.
WATCH_CSP = """
window.__csp = [];
document.addEventListener('securitypolicyviolation', function (e) {
  window.__csp.push(e.violatedDirective + ' ' + e.blockedURI);
});
"""


def _api(app, method: str, path: str, token: str, body: dict) -> dict:
    """Call the REST API with a bearer token; assert it answered 2xx."""
    client = app.test_client()
    resp = client.open(path, method=method, json=body, headers={"Authorization": f"Bearer {token}"})
    assert resp.status_code < 300, resp.get_data(as_text=True)
    return resp.get_json()


def _seed(app, world, session, live) -> dict:
    """Store a payload in every user-supplied field that reaches a page; return the ids."""
    now = utcnow()
    users = {role: create_user(session, name, role, PASSWORD, now=now) for role, name in NAMES.items()}
    tokens = {role: create_api_token(session, u, now=now) for role, u in users.items()}
    dev_trip, dev_trip_token = create_device(session, DEVICE_ON_TRIP, users["escort"], now=now)
    _dev_free, dev_free_token = create_device(session, DEVICE_FREE, None, now=now)
    session.commit()
    patient = _api(app, "POST", "/api/v1/patients", tokens["admin"], {**SHEET, "coordinator": NAMES["coordinator"]})
    trip = trips_mod.create_trip(
        session, patient_id=patient["id"], escort=NAMES["escort"], device_id=dev_trip.id,
        pickup={"lat": ROUTE[0][0], "lon": ROUTE[0][1], "radius_m": 60},
        dropoff={"lat": ROUTE[-1][0], "lon": ROUTE[-1][1], "radius_m": 60},
        route=[list(p) for p in ROUTE], settings={}, scheduled_pickup_at=now,
        appointment_at=now + timedelta(hours=1), user=users["dispatcher"], now=now)
    for step in ("en_route_pickup", "arrived_pickup", "on_board"):
        trips_mod.change_status(session, trip, step, users["dispatcher"], now=now)
    session.commit()
    ts = (now - timedelta(seconds=5)).isoformat().replace("+00:00", "Z")
    for token, (lat, lon) in ((dev_trip_token, ROUTE[2]), (dev_free_token, (51.4990, -0.1150))):
        urllib.request.urlopen(urllib.request.Request(
            f"{live.url}/api/v1/fixes", method="POST", headers={"Authorization": f"Bearer {token}",
                                                                 "Content-Type": "application/json"},
            data=f'[{{"seq": 1, "lat": {lat}, "lon": {lon}, "ts": "{ts}"}}]'.encode()), timeout=10).read()
    square = [[-0.1180, 51.5030], [-0.1160, 51.5030], [-0.1160, 51.5040], [-0.1180, 51.5040], [-0.1180, 51.5030]]
    _api(app, "POST", "/api/v1/hazard-zones", tokens["dispatcher"],
         {"name": ZONE_NAME, "reason": ZONE_REASON, "polygon": {"type": "Polygon", "coordinates": [square]}})
    square2 = [[-0.1140, 51.5030], [-0.1120, 51.5030], [-0.1120, 51.5040], [-0.1140, 51.5030]]
    _api(app, "POST", "/api/v1/hazard-zones", tokens["dispatcher"],
         {"name": ZONE_IMG, "reason": ZONE_IMG, "polygon": {"type": "Polygon", "coordinates": [square2]}})
    _api(app, "POST", "/api/v1/flagged-places", tokens["dispatcher"],
         {"label": FLAG_LABEL, "category": "dog", "reason": FLAG_REASON,
          "point": {"lat": ROUTE[0][0], "lon": ROUTE[0][1], "radius_m": 50},
          "expires_at": (now + timedelta(days=2)).isoformat()})
    _api(app, "POST", f"/api/v1/trips/{trip.id}/notes", tokens["dispatcher"], {"text": NOTE})
    stop, _ = alerts_mod.raise_alert(session, trip_id=trip.id, device_id=dev_trip.id, kind="stop",
                                     detail={"duration_s": 300}, at=now, now=now)
    panic, _ = alerts_mod.raise_alert(session, trip_id=trip.id, device_id=dev_trip.id, kind="panic",
                                      detail={"source": "device"}, at=now, now=now)
    session.commit()
    _api(app, "POST", f"/api/v1/alerts/{stop.id}/resolve", tokens["dispatcher"],
         {"category": "precautionary", "note": RESOLVE_NOTE})
    _api(app, "POST", f"/api/v1/alerts/{panic.id}/ack", tokens["dispatcher"], {})
    return {"trip": trip.id, "patient": patient["id"]}


class Watch:
    """Watch one browser context: dialogs and console errors; each page is checked by ``check``."""

    def __init__(self, context) -> None:
        self.dialogs: list[str] = []
        self.errors: list[str] = []
        context.add_init_script(WATCH_CSP)
        context.on("page", self._attach)
        for page in context.pages:
            self._attach(page)

    def _attach(self, page) -> None:
        """Record dialogs (and dismiss them) and console errors of ``page``."""
        page.on("dialog", lambda d: (self.dialogs.append(d.message), d.dismiss()))
        page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)

    def check(self, page, where: str, shown: list[str]) -> None:
        """Assert nothing ran or was injected, no CSP violation, and the payloads in ``shown`` read as text."""
        page.wait_for_timeout(300)
        assert self.dialogs == [], f"{where}: a dialog opened: {self.dialogs}"
        assert page.evaluate("() => window.__xss") is None, f"{where}: injected script ran"
        injected = page.evaluate("""() => ({
            img: document.querySelectorAll('img[src="x"]').length,
            svg: document.querySelectorAll('svg[onload]').length,
            script: Array.from(document.scripts).filter(
                s => s.type !== 'application/json' && s.textContent.includes('__xss')).length,
            jshref: document.querySelectorAll('a[href^="javascript:" i]').length,
            // The CSP allows no inline script: the page must need none.
            inline: Array.from(document.scripts).filter(s => !s.src && s.type !== 'application/json').length,
            handlers: Array.from(document.querySelectorAll('*')).filter(
                el => Array.from(el.attributes).some(a => a.name.startsWith('on'))).length,
        })""")
        assert injected == {"img": 0, "svg": 0, "script": 0, "jshref": 0, "inline": 0, "handlers": 0}, \
            f"{where}: markup from data or inline script: {injected}"
        assert page.evaluate("() => window.__csp") == [], f"{where}: CSP violations"
        csp_errors = [e for e in self.errors if "Content Security Policy" in e]
        assert csp_errors == [], f"{where}: {csp_errors}"
        text = page.evaluate("() => document.body.innerText")
        missing = [p for p in shown if p not in text]
        assert missing == [], f"{where}: not shown literally: {missing}"


def _open(page, url: str, where: str, watch: Watch, shown: list[str], ready: str | None = None):
    """Open ``url``, wait for it, and check it."""
    resp = page.goto(url)
    assert resp.status == 200, f"{where}: {resp.status}"
    page.wait_for_load_state("networkidle")
    if ready:
        page.wait_for_function(ready, timeout=10000)
    watch.check(page, where, shown)


def _check_live_map(page, watch: Watch, ids: dict) -> None:
    """Open the live map, hover the trip's marker, open the zones', the flagged place's and the free device's tooltips."""
    _open(page, "/dispatch", "/dispatch", watch, [SHEET["name"], NAMES["escort"], NAMES["dispatcher"]],
          ready=f"() => document.querySelector('.trip-{ids['trip']}') !== null")
    page.locator(f"path.trip-{ids['trip']}").hover(force=True)
    tooltip = page.locator(".leaflet-tooltip").first
    tooltip.wait_for()
    assert SHEET["name"] in tooltip.inner_text() and NAMES["escort"] in tooltip.inner_text()
    watch.check(page, "/dispatch trip tooltip", [])
    texts = page.evaluate("""() => {
        var s = window.dispatchState, out = [];
        s.zoneLayers.forEach(function (z) { z.openTooltip(); out.push(z.getTooltip().getElement().innerText); });
        Object.keys(s.deviceMarkers).forEach(function (k) {
            var m = s.deviceMarkers[k]; m.openTooltip(); out.push(m.getTooltip().getElement().innerText); });
        return out.join('\\n');
    }""")
    for expected in (ZONE_NAME, ZONE_REASON, FLAG_LABEL, FLAG_REASON, DEVICE_FREE):
        assert expected in texts, f"{expected!r} not shown literally in the map tooltips: {texts!r}"
    watch.check(page, "/dispatch tooltips", [])


def _check_places_page(page, watch: Watch) -> None:
    """Open /admin/places: the zones' and the flagged place's words as text in the list, the forms and the tooltips."""
    _open(page, "/admin/places", "/admin/places", watch, [ZONE_NAME, ZONE_REASON, ZONE_IMG, FLAG_LABEL, FLAG_REASON],
          ready="() => window.placesState && Object.keys(window.placesState.layers).length === 3")
    texts = page.evaluate("""() => {
        var layers = window.placesState.layers;
        return Object.keys(layers).map(function (k) {
            layers[k].openTooltip(); return layers[k].getTooltip().getElement().innerText; }).join('\\n');
    }""")
    for expected in (ZONE_NAME, ZONE_REASON, ZONE_IMG, FLAG_LABEL, FLAG_REASON):
        assert expected in texts, f"{expected!r} not shown literally in the places map's tooltips: {texts!r}"
    assert ZONE_IMG in page.locator("textarea, input").evaluate_all("els => els.map(e => e.value).join(' ')")
    watch.check(page, "/admin/places tooltips", [])


def _check_patient_pages(page, watch: Watch, patient: int) -> None:
    """Open the patient list and the sheet form, and a form error that quotes what was typed."""
    _open(page, "/patients", "/patients", watch, [SHEET["name"], SHEET["member_id"]])
    _open(page, f"/patients/{patient}/edit", "patient form", watch, [SHEET["name"]])
    assert page.get_by_role("group", name="Who").get_by_label("Name", exact=True).input_value() == SHEET["name"]
    typed = _one("times", 1)  # the model's message quotes a bad time: "'<script>…' is not a time of day"
    page.get_by_role("group", name="Medication 1").get_by_label("Times of day").fill(typed)
    page.get_by_role("button", name="Save patient").click()
    page.wait_for_load_state("networkidle")
    watch.check(page, "patient form errors", [typed.split(";")[0]])


@pytest.mark.parametrize("role", ["admin", "dispatcher", "coordinator", "escort"])
def test_script_in_any_field_never_runs_and_reads_as_text(browser, live, world, session, app, role):
    ids = _seed(app, world, session, live)
    context = browser.new_context(base_url=live.url)
    watch = Watch(context)
    page = context.new_page()
    # Audit details carry what was typed at the login page.
    page.goto("/login")
    watch.check(page, "/login", [])
    page.get_by_label("User name").fill(LOGIN_TRIED)
    page.get_by_label("Password").fill("wrong-password")
    page.get_by_role("button", name="Log in").click()
    page.wait_for_load_state("networkidle")
    watch.check(page, "/login (refused)", [])
    page.get_by_label("User name").fill(NAMES[role])
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_load_state("networkidle")
    trip, patient = ids["trip"], ids["patient"]
    log_text = [SHEET["name"], NAMES["escort"], NOTE]
    if role in ("admin", "dispatcher"):
        _check_live_map(page, watch, ids)
    if role != "escort":
        _open(page, f"/dispatch/trips/{trip}", "dispatch trip page", watch, [SHEET["name"], NAMES["escort"]])
        staff_sheet = SHEET_TEXT + ([SHEET["dispatcher_notes"]] if role != "coordinator" else [])
        _open(page, f"/patients/{patient}", "patient sheet", watch, staff_sheet if role != "coordinator" else SHEET_TEXT)
    else:
        _open(page, "/escort", "/escort", watch, [SHEET["name"], FLAG_LABEL, FLAG_REASON, NAMES["escort"]],
              ready="() => document.querySelector('#conn-status').textContent.includes('online')")
        _open(page, f"/patients/{patient}", "patient sheet", watch, SHEET_TEXT)
    if role in ("admin", "dispatcher"):
        _check_patient_pages(page, watch, patient)
        _check_places_page(page, watch)
    _open(page, "/trips", "/trips", watch, [SHEET["name"], NAMES["escort"]])
    _open(page, f"/trips/{trip}", "trip log", watch, log_text,
          ready="() => document.querySelector('#replay').dataset.ready === '1'")
    _open(page, f"/trips/{trip}/report", "trip report", watch, log_text + [RESOLVE_NOTE, NAMES["dispatcher"]])
    if role == "admin":
        _open(page, "/admin/audit", "/admin/audit", watch, [LOGIN_TRIED, NAMES["admin"]])
    page.get_by_role("button", name="Log out").click()
    page.wait_for_load_state("networkidle")
    watch.check(page, "/login after logout", [])
    context.close()


def test_pages_answers_and_static_files_carry_the_security_headers(live, world):
    def headers(path: str, **extra) -> dict:
        req = urllib.request.Request(f"{live.url}{path}", headers=extra)
        with urllib.request.urlopen(req, timeout=10) as resp:
            return {k.lower(): v for k, v in resp.headers.items()}

    page = headers("/login")
    api = headers("/api/v1/alerts", **world.bearer("dan"))
    static = headers("/static/js/dispatch.js")
    for got in (page, api, static):
        csp = got["content-security-policy"]
        for directive in ("default-src 'self'", "script-src 'self'", "object-src 'none'", "base-uri 'none'",
                          "form-action 'self'", "frame-ancestors 'none'"):
            assert directive in csp
        assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
        assert re.search(r"connect-src [^;]*ws://127\.0\.0\.1:\d+", csp)
        assert got["x-content-type-options"] == "nosniff"
        assert got["x-frame-options"] == "DENY"
        assert got["referrer-policy"] == "strict-origin-when-cross-origin"
        assert "strict-transport-security" not in got, "HSTS only when ESCORT_HSTS_S is set"
    assert page["cache-control"] == "no-store" and api["cache-control"] == "no-store"
    assert "no-store" not in static.get("cache-control", ""), "static files may be cached"

