"""An escalation step is a change of the alert that screens see: its level, when, and whom it reached."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import select

from app.db import utcnow
from app.realtime import socketio
from dispatch import alerts, scheduler
from dispatch.models import Alert
from dispatch.notify import Channels

NO_CHANNELS = Channels()


def _iso(at) -> str:
    return at.isoformat().replace("+00:00", "Z")


def _panic(session, world):
    """Raise a panic on the world's trip; return it."""
    at = utcnow()
    alert, _ = alerts.raise_alert(session, trip_id=world.trip.id, device_id=None, kind="panic", detail={},
                                  at=at, now=at)
    session.commit()
    return alert


def _fresh(session, alert_id: int) -> Alert:
    session.expire_all()
    return session.exec(select(Alert).where(Alert.id == alert_id)).one()


def test_each_step_moves_updated_at_and_the_public_form_says_how_far_and_to_whom(app, world, session):
    alert = _panic(session, world)
    t0 = alert.raised_at
    shown = alerts.public(alert)
    assert (shown["escalation_level"], shown["escalated_at"], shown["escalated_to"]) == (0, None, None)

    first = t0 + timedelta(seconds=130)
    scheduler.sweep(session, now=first, channels=NO_CHANNELS)
    shown = alerts.public(_fresh(session, alert.id))
    assert (shown["escalation_level"], shown["escalated_at"], shown["escalated_to"]) == (
        1, _iso(first), "dispatcher on duty")
    assert shown["updated_at"] == _iso(first), "the step is a change: screens must keep this copy"

    second = t0 + timedelta(seconds=260)
    scheduler.sweep(session, now=second, channels=NO_CHANNELS)
    shown = alerts.public(_fresh(session, alert.id))
    assert (shown["escalation_level"], shown["escalated_at"], shown["escalated_to"]) == (2, _iso(second), "supervisor")
    assert shown["updated_at"] == _iso(second)

    # Another process merged detail after this sweep read its clock: the step never takes updated_at back.
    merged_at = t0 + timedelta(seconds=500)
    alerts.raise_alert(session, trip_id=world.trip.id, device_id=None, kind="panic", detail={"again": True},
                       at=merged_at, now=merged_at)
    session.commit()
    scheduler.sweep(session, now=t0 + timedelta(seconds=390), channels=NO_CHANNELS)
    shown = alerts.public(_fresh(session, alert.id))
    assert (shown["escalation_level"], shown["escalated_to"]) == (3, "escort's emergency contact")
    assert shown["updated_at"] == _iso(merged_at)


def test_the_dispatchers_screens_are_sent_the_step_with_its_words(app, world, session):
    alert = _panic(session, world)
    desk = socketio.test_client(app, namespace="/dispatch", auth={"token": world.api_tokens["dan"]})
    desk.get_received("/dispatch")
    step_at = alert.raised_at + timedelta(seconds=130)
    app.extensions["escort"].sweep_once(step_at)
    sent = [m["args"][0] for m in desk.get_received("/dispatch") if m["name"] == "alert"]
    mine = [a for a in sent if a["id"] == alert.id]
    assert mine, f"no alert message for the step: {sent}"
    assert mine[0]["escalation_level"] == 1 and mine[0]["escalated_to"] == "dispatcher on duty"
    assert mine[0]["escalated_at"] == _iso(step_at) and mine[0]["updated_at"] == _iso(step_at)
    # And the REST list says the same.
    [listed] = [a for a in app.test_client().get("/api/v1/alerts?open=1", headers=world.bearer("dan")).get_json()
                if a["id"] == alert.id]
    assert (listed["escalation_level"], listed["escalated_to"]) == (1, "dispatcher on duty")
    desk.disconnect(namespace="/dispatch")
