"""A duress check-in leaves nothing on the escort's side: what the escort's identity can fetch or
receive after one is what it gets after a safe check-in, ids and times aside.

The same trip is run twice on a fresh database, once checking in (and ending the trip) with the
safe PIN and once with the duress PIN. At each stage everything the escort can GET (every page and
REST route of the app) and every /device message and acknowledgement, received by a real
Socket.IO client over TCP, is recorded; the two records must be equal. Dispatchers and
coordinators still see the duress alert.
"""

from __future__ import annotations

import json
import re
import time
from datetime import timedelta

import socketio as sio
from sqlmodel import Session, select

from app import create_app
from app.auth import hash_secret
from app.db import upgrade, utcnow
from dispatch import codeword
from dispatch.models import Alert
from tests.conftest import _emptied_at_head, make_config
from tests.factories import World, fix_payload, login
from tests.live import ThreadedServer

SAFE, DURESS = "1234", "9876"
# Routes that are the same for everyone and say nothing about a trip (or count every process's events).
NOT_ABOUT_TRIPS = {"static", "metrics", "healthz", "openapi.openapi_json", "auth.login", "auth.logout",
                   "auth.index", "tracking.escort_service_worker"}

ISO_TIME = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2}| UTC)?")
# Local times as pages write them ("Wed 02 Dec 2026, 14:05", "14:05:09 UTC"): the two runs start minutes apart.
LOCAL_DATE = re.compile(r"\b(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) \d{2} [A-Z][a-z]{2} \d{4}\b")
CLOCK = re.compile(r"\b\d{1,2}:\d{2}(?::\d{2})?\b")
EPOCH = re.compile(r"\b1\d{9}(?:\.\d+)?\b")
DURATION = re.compile(r"-?\d+ min \d+ s\b|-?\d+(?:\.\d+)? s\b")
TOKENS = re.compile(r'(name="(?:csrf[-_]token|panic-voucher)"[^>]*(?:content|value)=")[^"]*|(nonce=")[^"]*')


def _text(value: str) -> str:
    """Blank out times, durations and per-response tokens in text."""
    value = TOKENS.sub(lambda m: (m.group(1) or m.group(2)) + "<token>", value)
    value = ISO_TIME.sub("<time>", value)
    value = LOCAL_DATE.sub("<date>", CLOCK.sub("<clock>", value))
    value = EPOCH.sub("<t>", value)
    return DURATION.sub("<duration>", value)


def _json(value, key: str = ""):
    """Blank out ids, times and durations in decoded JSON."""
    if isinstance(value, dict):
        return {k: _json(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [_json(v) for v in value]
    if isinstance(value, str):
        return _text(value)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if key == "id" or key.endswith("_id"):
            return "<id>"
        if key.endswith("_s") or key in ("t", "t0", "t1") or value > 1e9:
            return "<time>"
    return value


def _fetch(client, url: str) -> tuple:
    """GET a URL; return its status, type and normalised body."""
    resp = client.get(url)
    body = resp.get_data(as_text=True)
    resp.close()
    if resp.mimetype == "application/json" or resp.mimetype.endswith("+json"):
        body = json.dumps(_json(json.loads(body)), sort_keys=True, indent=1)
    else:
        body = _text(body)
    location = _text(resp.headers.get("Location", ""))
    return resp.status_code, resp.mimetype, resp.headers.get("Content-Disposition"), location, body


def _escort_urls(app, world) -> list[str]:
    """Return every GET URL of the app about the escort's trip and patient, with the list's filters."""
    ids = {"trip_id": world.trip.id, "patient_id": world.patient.id}
    urls = []
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        if "GET" not in rule.methods or rule.endpoint in NOT_ABOUT_TRIPS:
            continue
        formats = ("gpx", "csv", "geojson") if "fmt" in rule.arguments else (None,)
        # Arguments about other things (a device, a token, a user name) get a value of their own:
        # those pages must answer the escort identically after either PIN too.
        others = {arg: 1 for arg in rule.arguments if arg not in ids and arg != "fmt"}
        for fmt in formats:
            urls.append(rule.build({**ids, **others, **({"fmt": fmt} if fmt else {})}, append_unknown=False)[1])
    extra = [f"{base}?{query}" for base in ("/trips", "/api/v1/trips")
             for query in ("had_alerts=1", "had_alerts=0", "status=on_board", "status=completed")]
    return urls + extra + [f"/api/v1/alerts?trip_id={world.trip.id}"]


class Tablet:
    """The escort's device on /device: a real Socket.IO client recording every message and ack."""

    def __init__(self, url: str, token: str) -> None:
        self.log: list = []
        self.client = sio.Client(reconnection=False)
        self.client.on("*", self._record, namespace="/device")
        self.client.connect(url, namespaces=["/device"], auth={"token": token}, transports=["polling"],
                            wait_timeout=10)

    def _record(self, event, *args):
        self.log.append(("message", event, _json(args[0] if args else None)))

    def call(self, event: str, data) -> dict:
        ack = self.client.call(event, data, namespace="/device", timeout=10)
        self.log.append(("ack", event, _json(ack)))
        return ack

    def settle(self, expected: int, timeout_s: float = 5.0) -> None:
        """Wait until ``expected`` messages have arrived (then a moment for any stray one)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and sum(1 for e in self.log if e[0] == "message") < expected:
            time.sleep(0.02)
        time.sleep(0.2)


def _wait_for_alerts(session, kind: str, count: int) -> None:
    """Wait until ``count`` alerts of ``kind`` exist (the duress alert is raised in the background)."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        session.expire_all()
        if len(session.exec(select(Alert).where(Alert.kind == kind)).all()) >= count:
            return
        time.sleep(0.02)
    raise AssertionError(f"no {count} {kind} alerts")


def _run(tmp_path, pin: str) -> dict:
    """Drive one trip through check-in, escalation, resolution and its end with ``pin``; record the escort's side."""
    app = create_app(make_config(tmp_path))
    engine = app.extensions["escort"].engine
    if not _emptied_at_head(engine):
        upgrade(engine)
    seen: dict = {}
    duress = pin == DURESS
    try:
        with Session(engine, expire_on_commit=False) as session, ThreadedServer(app) as server:
            world = World.build(app, session)
            eve = world.users["escort"]
            eve.safe_pin_hash, eve.duress_pin_hash = hash_secret(SAFE), hash_secret(DURESS)
            session.add(eve)
            session.commit()
            web = login(app.test_client(), "eve")
            urls = _escort_urls(app, world)

            def capture(stage: str) -> None:
                seen[stage] = {url: _fetch(web, url) for url in urls}

            tablet = Tablet(server.url, world.device_token)
            start = utcnow()
            for seq in (1, 2, 3):
                tablet.call("fix", fix_payload(seq, lat=51.5007 + seq * 1e-4, ts=start - timedelta(seconds=30 - seq)))
            tablet.call("checkin", {"pin": pin})
            if duress:
                _wait_for_alerts(session, "duress", 1)
            capture("checked in")

            ext = app.extensions["escort"]
            for later_s in (1700, 1830, 1960):  # a check-in reminder (once per due time), and escalation
                ext.sweep_once(start + timedelta(seconds=later_s))
            tablet.settle(1)
            capture("escalated")

            staff = app.test_client()
            for alert in staff.get("/api/v1/alerts?open=1", headers=world.bearer("dan")).get_json():
                assert staff.post(f"/api/v1/alerts/{alert['id']}/resolve", json={"category": "test"},
                                  headers=world.bearer("dan")).status_code == 200
            capture("resolved")

            tablet.call("status", {"trip_id": world.trip.id, "status": "arrived_dropoff"})
            tablet.call("status", {"trip_id": world.trip.id, "status": "completed", "pin": pin})
            if duress:
                _wait_for_alerts(session, "duress", 2)
            tablet.settle(3)  # the reminder and the two status changes
            capture("ended")
            tablet.client.disconnect()
            seen["tablet"] = tablet.log
            seen["trip_id"] = world.trip.id

            seen["dispatcher alerts"] = [a["kind"] for a in staff.get(
                "/api/v1/alerts", headers=world.bearer("dan")).get_json()]
            seen["coordinator timeline"] = [e["text"] for e in staff.get(
                f"/api/v1/trips/{world.trip.id}/timeline", headers=world.bearer("cora")).get_json()["timeline"]]
            seen["coordinator list"] = staff.get("/api/v1/trips", headers=world.bearer("cora")).get_json()["trips"]
    finally:
        engine.dispose()
    return seen


def test_the_escort_side_is_the_same_after_a_duress_and_a_safe_checkin(tmp_path):
    safe = _run(tmp_path / "safe", SAFE)
    duress = _run(tmp_path / "duress", DURESS)

    differ = [(stage, url) for stage in ("checked in", "escalated", "resolved", "ended")
              for url, got in safe[stage].items() if duress[stage][url] != got]
    assert differ == [], f"the escort's side differs after a duress check-in: {differ}"
    assert duress["tablet"] == safe["tablet"]
    assert [e[1] for e in safe["tablet"] if e[0] == "message"].count("checkin_due") == 1
    # The escort still sees the alerts that are not secret.
    assert "Alert raised: signal lost" in safe["ended"][f"/trips/{safe['trip_id']}/report"][-1]

    # Dispatch and review staff do see the duress alerts and their escalation.
    assert duress["dispatcher alerts"].count("duress") == 2 and "duress" not in safe["dispatcher alerts"]
    assert "Alert raised: duress" in duress["coordinator timeline"]
    assert any(text.startswith("Escalation step 3 (escort's emergency contact) for duress")
               for text in duress["coordinator timeline"])
    assert duress["coordinator list"][0]["alert_count"] == safe["coordinator list"][0]["alert_count"] + 2


def test_a_purged_trips_kept_figures_count_only_the_alerts_the_reader_may_know(app, world, session, client):
    from dispatch import service
    from dispatch.retention import purge_fixes

    eve = world.users["escort"]
    eve.safe_pin_hash, eve.duress_pin_hash = hash_secret(SAFE), hash_secret(DURESS)
    session.add(eve)
    session.commit()
    assert client.post("/api/v1/fixes", json=[fix_payload(1)],
                       headers={"Authorization": f"Bearer {world.device_token}"}).status_code == 200
    assert service.checkin(session, eve.id, DURESS, now=utcnow()) == {"ok": True}
    _wait_for_alerts(session, "duress", 1)
    time.sleep(0.3)  # the background task returns its connection
    assert purge_fixes(session, older_than_days=0, now=utcnow() + timedelta(seconds=1)) == 1

    url = f"/api/v1/trips/{world.trip.id}/figures"
    staff, escort = client.get(url, headers=world.bearer("dan")).get_json(), client.get(
        url, headers=world.bearer("eve")).get_json()
    assert staff["from_summary"] and escort["from_summary"]
    assert (staff["alert_count"], escort["alert_count"]) == (1, 0)


# The same message in both runs; only the escort's code phrase differs, so in one run the message
# holds it (in other case and spacing) and silently raises duress, in the other it does not.
MESSAGE = "Running late: stuck behind a BLUE   heron van, 10 min"
CODE_PHRASES = {"held": "Blue Heron", "not held": "Red kite"}


def _run_message(tmp_path, phrase: str) -> dict:
    """Send MESSAGE from the tablet with ``phrase`` as the code phrase, get dispatch's reply and read it; record the escort's side."""
    app = create_app(make_config(tmp_path))
    engine = app.extensions["escort"].engine
    if not _emptied_at_head(engine):
        upgrade(engine)
    seen: dict = {}
    try:
        with Session(engine, expire_on_commit=False) as session, ThreadedServer(app) as server:
            world = World.build(app, session)
            eve = world.users["escort"]
            eve.safe_pin_hash, eve.duress_pin_hash = hash_secret(SAFE), hash_secret(DURESS)
            eve.code_phrase_hash = codeword.stored_form(phrase)
            session.add(eve)
            session.commit()
            web = login(app.test_client(), "eve")
            urls = _escort_urls(app, world)
            tablet = Tablet(server.url, world.device_token)
            tablet.call("fix", fix_payload(1, ts=utcnow() - timedelta(seconds=5)))
            tablet.call("message", {"trip_id": world.trip.id, "text": MESSAGE})
            if phrase == CODE_PHRASES["held"]:
                _wait_for_alerts(session, "duress", 1)
            else:
                time.sleep(1.5)  # the background check of the phrase has had its time (absence cannot be awaited)
            staff = app.test_client()
            reply = staff.post(f"/api/v1/trips/{world.trip.id}/messages", json={"text": "OK, noted"},
                               headers=world.bearer("dan")).get_json()
            tablet.call("messages_read", {"trip_id": world.trip.id, "up_to": reply["id"]})
            tablet.settle(3)  # its own message, the reply, the reply read
            seen["pages"] = {url: _fetch(web, url) for url in urls}
            tablet.client.disconnect()
            seen["tablet"] = tablet.log
            seen["dispatcher alerts"] = [(a["kind"], a["detail"].get("via")) for a in staff.get(
                "/api/v1/alerts", headers=world.bearer("dan")).get_json()]
    finally:
        engine.dispose()
    return seen


def test_a_message_with_the_code_phrase_looks_the_same_to_the_escort_and_raises_duress(tmp_path):
    held = _run_message(tmp_path / "held", CODE_PHRASES["held"])
    plain = _run_message(tmp_path / "plain", CODE_PHRASES["not held"])

    differ = [url for url, got in plain["pages"].items() if held["pages"][url] != got]
    assert differ == [], f"the escort's side differs after a message with the code phrase: {differ}"
    assert held["tablet"] == plain["tablet"]
    assert [e[1] for e in plain["tablet"] if e[0] == "message"].count("message") == 3
    assert held["dispatcher alerts"] == [("duress", "code phrase")] and plain["dispatcher alerts"] == []
