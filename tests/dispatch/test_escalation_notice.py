"""An escalation step carries what the person it reaches needs: the kind, when, where in words with a
map link, the escort's phone and what to do; by webhook (the JSON an SMS gateway reads) and e-mail."""

from __future__ import annotations

import email
from datetime import timedelta

from sqlmodel import select

from app.auth import hash_secret
from app.realtime import socketio
from dispatch import escalation, scheduler, service
from dispatch.models import Alert
from dispatch.notify import Channels
from tests.dispatch.test_safety import smtp_server, webhook_server  # noqa: F401  (fixtures)
from tests.live import wait_until

PANIC_AT = {"lat": 51.50101, "lon": -0.14189}


def _words(lat: float, lon: float) -> str:
    """Words for a place, as a reverse geocoder gives them."""
    return "Buckingham Palace Road, London SW1" if abs(lat - PANIC_AT["lat"]) < 1e-3 else "somewhere"


def _failing_geocoder(lat: float, lon: float) -> str:
    raise TimeoutError("the geocoder did not answer in 2 s")


def test_each_step_says_kind_when_where_phone_and_what_to_do(app, world, session, smtp_server, webhook_server):  # noqa: F811
    smtp_url, mails = smtp_server
    hook_url, hooks = webhook_server
    eve = world.users["escort"]
    eve.phone, eve.emergency_contact_email = "+44 7700 900123", "eves-sister@example.test"
    session.add(eve)
    session.commit()
    channels = Channels(webhook_url=hook_url, smtp_url=smtp_url, dispatch_phone="+44 20 7946 0999",
                        describe_place=_words)
    dev = socketio.test_client(app, namespace="/device", auth={"token": world.device_token})
    dev.emit("panic", PANIC_AT, namespace="/device", callback=True)
    alert = session.exec(select(Alert).where(Alert.kind == "panic")).one()
    for seconds in (130, 260, 390):
        scheduler.sweep(session, now=alert.raised_at + timedelta(seconds=seconds), channels=channels)

    mine = [h for h in hooks if h["alert_id"] == alert.id]
    assert [h["level"] for h in mine] == [1, 2, 3]
    last = mine[-1]
    assert last["event"] == "escalation" and last["kind"] == "panic" and last["kind_words"] == "PANIC"
    assert last["escort"] == "eve" and last["escort_phone"] == "+44 7700 900123"
    assert last["dispatch_phone"] == "+44 20 7946 0999" and last["to"] == "escort's emergency contact"
    assert last["where"]["words"] == "Buckingham Palace Road, London SW1"
    assert (last["where"]["lat"], last["where"]["lon"]) == (PANIC_AT["lat"], PANIC_AT["lon"])
    assert last["where"]["map_url"] == "https://www.openstreetmap.org/?mlat=51.50101&mlon=-0.14189#map=17/51.50101/-0.14189"
    assert "Call the escort now on +44 7700 900123" in last["what_to_do"]
    assert last["text"].startswith("PANIC alert, escort eve") and "Buckingham Palace Road" in last["text"]
    assert "Pat Example" not in str(last), "no patient data leaves the company"
    [contact_mail] = [m for m in mails if m.rcpt_tos == ["eves-sister@example.test"] and b"PANIC" in m.content]
    body = email.message_from_bytes(contact_mail.content).get_payload(decode=True).decode()
    for words in ("Unanswered alert: PANIC", "Escort: eve, phone +44 7700 900123", "Buckingham Palace Road",
                  "openstreetmap.org/?mlat=51.50101", "What to do: The escort held the panic control",
                  "Dispatch: +44 20 7946 0999"):
        assert words in body, words


def test_a_duress_step_says_not_to_call_the_escort_and_a_geocoder_fault_still_sends_coordinates(
        app, world, session, webhook_server):  # noqa: F811
    hook_url, hooks = webhook_server
    eve = world.users["escort"]
    eve.safe_pin_hash, eve.duress_pin_hash = hash_secret("1234"), hash_secret("9876")
    session.add(eve)
    session.commit()
    client = app.test_client()
    assert client.post("/api/v1/fixes", json=[{"seq": 1, "lat": 51.5007, "lon": -0.1246,
                                               "ts": (world.trip.started_at + timedelta(seconds=1)).isoformat()}],
                       headers={"Authorization": f"Bearer {world.device_token}"}).json["accepted"] == [1]
    assert service.checkin(session, eve.id, "9876", now=world.trip.started_at + timedelta(seconds=2)) == {"ok": True}
    assert wait_until(lambda: session.expire_all() or session.exec(select(Alert).where(Alert.kind == "duress")).first())
    alert = session.exec(select(Alert).where(Alert.kind == "duress")).one()
    scheduler.sweep(session, now=alert.raised_at + timedelta(seconds=130),
                    channels=Channels(webhook_url=hook_url, describe_place=_failing_geocoder))
    [hook] = [h for h in hooks if h["kind"] == "duress"]
    assert "Do NOT call the escort" in hook["what_to_do"]
    assert hook["where"]["words"] is None and (hook["where"]["lat"], hook["where"]["lon"]) == (51.5007, -0.1246)
    assert "51.50070, -0.12460" in hook["text"]


def test_kinds_without_advice_of_their_own_get_the_default():
    assert escalation.what_to_do("stop", None, None) == "Call the escort, then dispatch, to check that all is well."
