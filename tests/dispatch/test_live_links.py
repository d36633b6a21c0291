"""Responder links: a time-limited, read-only live location of one alert for people outside the company.

Made by a dispatcher (REST) or by an escalation step (with ESCORT_PUBLIC_URL); opened with no login;
ended by expiry, revocation or the alert's resolution, all answering the same 404; no patient data;
never cached, indexed or sent on as a Referer; audited without the token.
"""

from __future__ import annotations

import base64
import email
import hashlib
import hmac
import json
from dataclasses import replace
from datetime import timedelta

import pytest
from sqlalchemy import create_engine, event, update
from sqlmodel import select

from app.config import Config, ConfigError
from app.db import utcnow
from app.models import AuditEvent
from dispatch import live_links, scheduler
from dispatch.models import Alert, LiveLink
from dispatch.notify import Channels
from tests.dispatch.test_safety import smtp_server, webhook_server  # noqa: F401  (fixtures)
from tests.factories import fix_payload

PANIC_AT = {"lat": 51.50101, "lon": -0.14189}
PUBLIC = "https://dispatch.example.org"
# What the world's patient sheet holds and no live page or position may show.
PATIENT_SECRETS = ("Pat Example", "Sam", "+44 20 7946 0000")


@pytest.fixture
def panic(app, world, session):
    """Return an open panic on the world's trip, at a known place, with the escort's phone set."""
    eve = world.users["escort"]
    eve.phone = "+44 7700 900123"
    session.add(eve)
    now = utcnow()
    alert = Alert(trip_id=world.trip.id, device_id=world.device.id, kind="panic", open_key=f"trip:{world.trip.id}:panic",
                  raised_at=now, updated_at=now, detail=PANIC_AT, place="Buckingham Palace Road, London SW1")
    session.add(alert)
    session.commit()
    return alert


def _make(client, world, alert, who="dan"):
    resp = client.post(f"/api/v1/alerts/{alert.id}/live-links", headers=world.bearer(who))
    assert resp.status_code == 201, resp.get_data(as_text=True)
    return resp.json


def _public_url(app, url=PUBLIC):
    """Give the running app a public base URL, as ESCORT_PUBLIC_URL would."""
    escort = app.extensions["escort"]
    escort.config = replace(escort.config, public_url=url)


def test_a_dispatcher_makes_a_link_that_opens_without_login_and_shows_what_a_responder_needs(app, world, panic):
    client = app.test_client()
    made = _make(client, world, panic)
    assert made["live_url"] is None, "no public URL configured: the server does not guess one"
    assert made["live_path"].startswith("/live/") and made["state"] == "open" and made["created_by"] == "dan"
    token = made["live_path"].rsplit("/", 1)[1]
    assert len(token) >= 43  # secrets.token_urlsafe(32)

    stranger = app.test_client()
    page = stranger.get(made["live_path"])
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    for words in ("PANIC", "Buckingham Palace Road, London SW1", "eve", "tel:+44 7700 900123",
                  "openstreetmap.org/?mlat=51.50101", "Call the escort now on +44 7700 900123", " UTC"):
        assert words in html, words
    for secret in PATIENT_SECRETS:
        assert secret not in html, secret
    assert "Set-Cookie" not in page.headers, "the responder gets no session"
    assert page.headers["Referrer-Policy"] == "no-referrer"
    assert page.headers["Cache-Control"] == "no-store"
    assert page.headers["X-Robots-Tag"].startswith("noindex")
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]

    _public_url(app)
    again = _make(client, world, panic)
    assert again["live_url"].startswith(f"{PUBLIC}/live/") and again["live_url"].endswith(again["live_path"])


def test_the_position_follows_the_escorts_fixes_and_carries_no_patient_data(app, world, panic):
    client = app.test_client()
    path = _make(client, world, panic)["live_path"]
    first = client.get(f"{path}/position.json")
    assert first.status_code == 200 and first.headers["Cache-Control"] == "no-store"
    assert first.headers["Referrer-Policy"] == "no-referrer" and first.headers["X-Robots-Tag"].startswith("noindex")
    assert (first.json["lat"], first.json["lon"]) == (PANIC_AT["lat"], PANIC_AT["lon"])  # no fix yet: the alert's place
    fix = fix_payload(1, lat=51.5012, lon=-0.1410, ts=world.trip.started_at + timedelta(seconds=5))
    assert client.post("/api/v1/fixes", json=[fix], headers={"Authorization": f"Bearer {world.device_token}"}
                       ).json["accepted"] == [1]
    moved = client.get(f"{path}/position.json").json
    assert (moved["lat"], moved["lon"]) == (51.5012, -0.1410) and moved["at"].endswith("Z")
    assert set(moved) == {"lat", "lon", "at", "until"}
    for secret in PATIENT_SECRETS:
        assert secret not in json.dumps(moved)


def test_unknown_expired_revoked_and_resolved_links_all_answer_the_same_404(app, world, panic, session):
    client = app.test_client()
    expired, revoked, open_ = (_make(client, world, panic) for _ in range(3))
    row = session.get(LiveLink, expired["id"])  # its time is up
    row.expires_at = utcnow() - timedelta(seconds=1)
    session.add(row)
    session.commit()
    resp = client.post(f"/api/v1/alerts/{panic.id}/live-links/{revoked['id']}/revoke", headers=world.bearer("dan"))
    assert resp.status_code == 200 and resp.json["state"] == "revoked"
    assert client.post(f"/api/v1/alerts/{panic.id}/live-links/{revoked['id']}/revoke",
                       headers=world.bearer("dan")).status_code == 409
    assert client.get(open_["live_path"]).status_code == 200

    bodies = {}

    def ended(name, path):
        page, feed = client.get(path), client.get(f"{path}/position.json")
        assert page.status_code == 404 and feed.status_code == 404, name
        assert page.headers["Referrer-Policy"] == "no-referrer" and page.headers["Cache-Control"] == "no-store"
        assert page.headers["X-Robots-Tag"].startswith("noindex") and "Set-Cookie" not in page.headers
        bodies[name] = (page.get_data(), feed.get_data())

    ended("unknown", "/live/" + "x" * 43)
    ended("expired", expired["live_path"])
    ended("revoked", revoked["live_path"])
    # Resolving the alert ends every link it has.
    assert client.post(f"/api/v1/alerts/{panic.id}/resolve", json={"category": "false"},
                       headers=world.bearer("dan")).status_code == 200
    ended("resolved", open_["live_path"])
    assert len(set(bodies.values())) == 1, "every ended link answers the very same bytes"
    assert b"not available" in bodies["unknown"][0]
    listed = {l["id"]: l["state"] for l in client.get(f"/api/v1/alerts/{panic.id}/live-links",
                                                       headers=world.bearer("dan")).json}
    assert listed == {expired["id"]: "expired", revoked["id"]: "revoked", open_["id"]: "alert resolved"}
    assert client.post(f"/api/v1/alerts/{panic.id}/live-links", headers=world.bearer("dan")).status_code == 409


def test_a_link_lasts_the_configured_minutes(app, world, panic, session):
    escort = app.extensions["escort"]
    escort.config = replace(escort.config, responder_link_minutes=15)
    made = _make(app.test_client(), world, panic)
    row = session.get(LiveLink, made["id"])
    assert row.expires_at - row.created_at == timedelta(minutes=15)
    assert made["expires_at"] == made["ends_at"]


@pytest.mark.parametrize("raw", ["14", "721", "sixty", "60.5", "-30"])
def test_a_bad_link_duration_is_a_clear_config_error(raw):
    with pytest.raises(ConfigError, match="ESCORT_RESPONDER_LINK_MINUTES must be a whole number of minutes from 15 to 720"):
        Config.from_env({"ESCORT_RESPONDER_LINK_MINUTES": raw})


def test_link_duration_and_public_url_are_read_from_the_environment():
    cfg = Config.from_env({"ESCORT_RESPONDER_LINK_MINUTES": "720", "ESCORT_PUBLIC_URL": "https://dispatch.example.org/"})
    assert cfg.responder_link_minutes == 720 and cfg.public_url == "https://dispatch.example.org"
    assert Config.from_env({}).responder_link_minutes == 60 and Config.from_env({}).public_url is None
    with pytest.raises(ConfigError, match="ESCORT_PUBLIC_URL"):
        Config.from_env({"ESCORT_PUBLIC_URL": "dispatch.example.org"})


def test_making_revoking_and_opening_are_audited_without_the_token(app, world, panic, session):
    client = app.test_client()
    made = _make(client, world, panic)
    token = made["live_path"].rsplit("/", 1)[1]
    assert client.get(made["live_path"]).status_code == 200
    assert client.get(made["live_path"]).status_code == 200
    assert client.get(f"{made['live_path']}/position.json").status_code == 200  # polling is not an opening
    assert client.post(f"/api/v1/alerts/{panic.id}/live-links/{made['id']}/revoke",
                       headers=world.bearer("dan")).status_code == 200
    assert client.get(made["live_path"]).status_code == 404  # an ended link's opening is no opening
    rows = session.exec(select(AuditEvent).where(AuditEvent.object_type == "live_link")
                        .order_by(AuditEvent.id)).all()
    assert [r.action for r in rows] == ["live_link_created", "live_link_opened", "live_link_opened",
                                        "live_link_revoked"]
    assert rows[0].username == "dan" and rows[0].detail["alert_id"] == panic.id and rows[3].username == "dan"
    assert [r.detail["first"] for r in rows[1:3]] == [True, False]
    assert all(r.detail["at"].endswith("Z") for r in rows[1:3]) and all(r.object_id == made["id"] for r in rows)
    everything = session.exec(select(AuditEvent)).all()
    assert token not in json.dumps([[r.action, r.detail, r.remote_addr] for r in everything])
    assert live_links.hash_token(token) == session.get(LiveLink, made["id"]).token_hash


def test_only_the_dispatch_office_makes_lists_and_revokes_links(app, world, panic):
    client = app.test_client()
    made = _make(client, world, panic, who="ada")
    for who in ("eve", "emil", "cora"):
        assert client.post(f"/api/v1/alerts/{panic.id}/live-links", headers=world.bearer(who)).status_code == 403
        assert client.get(f"/api/v1/alerts/{panic.id}/live-links", headers=world.bearer(who)).status_code == 403
        assert client.post(f"/api/v1/alerts/{panic.id}/live-links/{made['id']}/revoke",
                           headers=world.bearer(who)).status_code == 403
    assert client.post(f"/api/v1/alerts/{panic.id}/live-links").status_code == 401
    assert client.post("/api/v1/alerts/999999/live-links", headers=world.bearer("dan")).status_code == 404


def test_a_duress_page_says_silent_alarm_and_tells_the_responder_not_to_call(app, world, session):
    eve = world.users["escort"]
    eve.phone = "+44 7700 900123"
    session.add(eve)
    now = utcnow()
    alert = Alert(trip_id=world.trip.id, device_id=world.device.id, kind="duress", open_key=f"trip:{world.trip.id}:duress",
                  raised_at=now, updated_at=now, detail={"lat": 51.5007, "lon": -0.1246})
    session.add(alert)
    session.commit()
    client = app.test_client()
    html = client.get(_make(client, world, alert)["live_path"]).get_data(as_text=True)
    assert "SILENT ALARM" in html and "Do NOT call the escort" in html
    assert "duress" not in html.lower()
    assert "tel:+44 7700 900123" not in html, "no button that calls the escort during a silent alarm"


def test_an_escalation_email_and_webhook_carry_the_live_link_with_its_expiry(app, world, panic, session,
                                                                            smtp_server, webhook_server):  # noqa: F811
    smtp_url, mails = smtp_server
    hook_url, hooks = webhook_server
    eve = world.users["escort"]
    eve.emergency_contact_email = "eves-sister@example.test"
    session.add(eve)
    session.commit()
    channels = Channels(webhook_url=hook_url, smtp_url=smtp_url, public_url=PUBLIC, link_minutes=30)
    for seconds in (130, 260, 390):
        scheduler.sweep(session, now=panic.raised_at + timedelta(seconds=seconds), channels=channels,
                        tz="Europe/London")
    mine = [h for h in hooks if h["alert_id"] == panic.id]
    assert [h["level"] for h in mine] == [1, 2, 3]
    last = mine[-1]
    assert last["live_url"].startswith(f"{PUBLIC}/live/") and last["live_until"].endswith("Z")
    assert last["timezone"] == "Europe/London" and last["raised_at_local"][:10] == last["raised_at"][:10]
    assert last["live_url"] in last["text"]
    link = session.exec(select(LiveLink).where(LiveLink.token_hash == live_links.hash_token(
        last["live_url"].rsplit("/", 1)[1]))).one()
    assert link.created_by_id is None and link.expires_at - link.created_at == timedelta(minutes=30)
    assert last["live_until"] == link.expires_at.isoformat().replace("+00:00", "Z")
    [contact_mail] = [m for m in mails if m.rcpt_tos == ["eves-sister@example.test"]]
    body = email.message_from_bytes(contact_mail.content).get_payload(decode=True).decode()
    assert f"until {last['live_until'][11:16]} UTC: {last['live_url']}" in body
    assert "local time, Europe/London" in body
    # The link in the e-mail opens the responder's page (no login) until the alert is resolved.
    client = app.test_client()
    path = last["live_url"][len(PUBLIC):]
    assert client.get(path).status_code == 200
    assert client.post(f"/api/v1/alerts/{panic.id}/resolve", json={"category": "incident"},
                       headers=world.bearer("dan")).status_code == 200
    assert client.get(path).status_code == 404


def test_without_a_public_url_an_escalation_says_there_is_no_link(app, world, panic, session, smtp_server,  # noqa: F811
                                                                  webhook_server):  # noqa: F811
    smtp_url, mails = smtp_server
    hook_url, hooks = webhook_server
    dan = world.users["dispatcher"]
    dan.email = "dan@example.test"
    session.add(dan)
    session.commit()
    scheduler.sweep(session, now=panic.raised_at + timedelta(seconds=130),
                    channels=Channels(webhook_url=hook_url, smtp_url=smtp_url))
    [hook] = [h for h in hooks if h["alert_id"] == panic.id]
    assert hook["live_url"] is None and hook["live_until"] is None
    assert session.exec(select(LiveLink)).first() is None
    [mail] = [m for m in mails if m.rcpt_tos == ["dan@example.test"]]
    body = email.message_from_bytes(mail.content).get_payload(decode=True).decode()
    assert "No live map link comes with this message." in body and "/live/" not in body


SECRET = "a-test-secret-key-of-32-characters"


def _steps(session, panic, channels, seconds, hooks):
    """Run the sweep at these seconds after the panic; return the panic's webhook bodies so far."""
    for s in seconds:
        scheduler.sweep(session, now=panic.raised_at + timedelta(seconds=s), channels=channels)
    return [h for h in hooks if h["alert_id"] == panic.id]


def _audits(session, action, alert):
    session.expire_all()
    return [a for a in session.exec(select(AuditEvent).where(AuditEvent.action == action)).all()
            if a.detail["alert_id"] == alert.id]


def test_the_staff_steps_of_an_alert_share_one_live_link_kept_open(app, world, panic, session,
                                                                    webhook_server):  # noqa: F811
    hook_url, hooks = webhook_server
    assert app.extensions["escort"].channels().link_secret == app.config["SECRET_KEY"], "the served app reuses"
    channels = Channels(webhook_url=hook_url, public_url=PUBLIC, link_minutes=30, link_secret=SECRET)
    mine = _steps(session, panic, channels, (130, 260), hooks)
    assert [h["level"] for h in mine] == [1, 2]
    assert len({h["live_url"] for h in mine}) == 1, [h["live_url"] for h in mine]
    session.expire_all()
    [link] = session.exec(select(LiveLink).where(LiveLink.alert_id == panic.id)).all()
    assert link.token_hash == live_links.hash_token(mine[0]["live_url"].rsplit("/", 1)[1])
    # Each step pushes its end on: open for link_minutes after the last step, and each step says until when.
    assert link.expires_at == panic.raised_at + timedelta(seconds=260, minutes=30)
    assert [h["live_until"] for h in mine] == [
        (panic.raised_at + timedelta(seconds=s, minutes=30)).isoformat().replace("+00:00", "Z") for s in (130, 260)]
    assert len(_audits(session, "live_link_created", panic)) == 1
    assert [a.object_id for a in _audits(session, "live_link_extended", panic)] == [link.id]
    # The link every responder got opens the page until the alert is resolved.
    path = mine[0]["live_url"][len(PUBLIC):]
    assert app.test_client().get(path).status_code == 200


def test_the_emergency_contact_never_gets_the_staffs_link(app, world, panic, session, webhook_server):  # noqa: F811
    hook_url, hooks = webhook_server
    client = app.test_client()
    channels = Channels(webhook_url=hook_url, public_url=PUBLIC, link_minutes=30, link_secret=SECRET)
    staff, supervisor, contact = _steps(session, panic, channels, (130, 260, 390), hooks)
    assert contact["level"] == 3 and staff["live_url"] == supervisor["live_url"]
    assert contact["live_url"] != staff["live_url"], "the personal contact outside the organisation has its own link"
    session.expire_all()
    links = session.exec(select(LiveLink).where(LiveLink.alert_id == panic.id).order_by(LiveLink.id)).all()
    assert len(links) == 2 and len(_audits(session, "live_link_created", panic)) == 2
    # Revoking the contact's link leaves the staff's open, and the other way round.
    contact_link = links[1]
    assert contact_link.token_hash == live_links.hash_token(contact["live_url"].rsplit("/", 1)[1])
    assert client.post(f"/api/v1/alerts/{panic.id}/live-links/{contact_link.id}/revoke",
                       headers=world.bearer("dan")).status_code == 200
    assert client.get(contact["live_url"][len(PUBLIC):]).status_code == 404
    assert client.get(staff["live_url"][len(PUBLIC):]).status_code == 200
    # A token of one audience never names a link of the other, even under the same key.
    staff_link = links[0]
    assert live_links.step_token(SECRET, staff_link, "contact") != live_links.step_token(SECRET, staff_link, "staff")


def test_a_step_token_is_keyed_by_a_key_derived_from_the_secret_not_the_secret_itself(app, world, panic, session):
    made = live_links.for_step(session, panic, now=utcnow(), minutes=30, secret=SECRET, audience="staff")
    key = hmac.new(SECRET.encode(), b"escort-live-link-v1", hashlib.sha256).digest()
    mac = hmac.new(key, f"staff:{made.link.id}:{panic.id}".encode(), hashlib.sha256).digest()
    assert made.token == base64.urlsafe_b64encode(mac).rstrip(b"=").decode()
    raw = hmac.new(SECRET.encode(), f"staff:{made.link.id}:{panic.id}".encode(), hashlib.sha256).digest()
    assert made.token != base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def test_a_revoked_or_expired_step_link_is_never_named_again(app, world, panic, session, webhook_server):  # noqa: F811
    hook_url, hooks = webhook_server
    client = app.test_client()
    channels = Channels(webhook_url=hook_url, public_url=PUBLIC, link_minutes=30, link_secret=SECRET)
    [first] = _steps(session, panic, channels, (130,), hooks)
    [made] = client.get(f"/api/v1/alerts/{panic.id}/live-links", headers=world.bearer("dan")).json
    assert client.post(f"/api/v1/alerts/{panic.id}/live-links/{made['id']}/revoke", headers=world.bearer("dan")).status_code == 200
    second = _steps(session, panic, channels, (260,), hooks)[-1]
    assert second["level"] == 2 and second["live_url"] != first["live_url"]
    assert client.get(first["live_url"][len(PUBLIC):]).status_code == 404, "the revoked link stays dead"
    assert client.get(second["live_url"][len(PUBLIC):]).status_code == 200
    # An expired link is not brought back either: with 1-minute links a step 2 minutes later makes a new one.
    t0 = panic.raised_at + timedelta(hours=1)
    old = live_links.for_step(session, panic, now=t0, minutes=1, secret=SECRET, audience="staff")
    later = live_links.for_step(session, panic, now=t0 + timedelta(minutes=2), minutes=1, secret=SECRET,
                                audience="staff")
    assert later.link.id != old.link.id and later.token != old.token


def test_a_link_revoked_while_a_step_extends_it_is_not_sent_a_new_one_is(app, world, panic, session,
                                                                         webhook_server):  # noqa: F811
    """The race: a dispatcher revokes the staff link between the step's read of it and its extension."""
    hook_url, hooks = webhook_server
    client = app.test_client()
    channels = Channels(webhook_url=hook_url, public_url=PUBLIC, link_minutes=30, link_secret=SECRET)
    [first] = _steps(session, panic, channels, (130,), hooks)
    engine = session.get_bind()
    other = create_engine(engine.url)  # another connection: the dispatcher's request
    revoked, read = [], []

    def revoke_first(conn, cursor, statement, parameters, context, executemany):
        words = " ".join(statement.split()).upper()
        if words.startswith("SELECT") and "FROM LIVE_LINK" in words:
            read.append(words)  # the step has read the open links
        elif read and not revoked and words.startswith(("UPDATE", "INSERT")):  # its first write after reading
            with other.begin() as dispatcher:
                revoked.append(dispatcher.execute(update(LiveLink).where(LiveLink.alert_id == panic.id)
                                                  .values(revoked_at=utcnow())).rowcount)

    event.listen(engine, "before_cursor_execute", revoke_first)
    try:
        second = _steps(session, panic, channels, (260,), hooks)[-1]
    finally:
        event.remove(engine, "before_cursor_execute", revoke_first)
        other.dispose()
    assert revoked == [1], "the revocation came between the step's read and its extension"
    assert second["level"] == 2 and second["live_url"] != first["live_url"], "never the dead token"
    assert client.get(first["live_url"][len(PUBLIC):]).status_code == 404
    assert client.get(second["live_url"][len(PUBLIC):]).status_code == 200
    assert _audits(session, "live_link_extended", panic) == []


def test_a_step_after_the_secret_changed_makes_a_new_link_rather_than_a_wrong_one(app, world, panic, session,
                                                                                   webhook_server):  # noqa: F811
    hook_url, hooks = webhook_server
    before = Channels(webhook_url=hook_url, public_url=PUBLIC, link_secret=SECRET)
    after = Channels(webhook_url=hook_url, public_url=PUBLIC, link_secret=SECRET + "-rotated")
    [first] = _steps(session, panic, before, (130,), hooks)
    second = _steps(session, panic, after, (260,), hooks)[-1]
    assert second["live_url"] != first["live_url"]
    client = app.test_client()
    assert client.get(first["live_url"][len(PUBLIC):]).status_code == 200
    assert client.get(second["live_url"][len(PUBLIC):]).status_code == 200
