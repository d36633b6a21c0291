"""A low battery off the charger raises one ``low_battery`` alert that dispatch sees; a charger clears it."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from sqlmodel import select

from app.db import utcnow
from app.realtime import socketio
from dispatch.models import Alert
from tests.factories import ROUTE, fix_payload, login
from tests.tracking.synth import START, plan_for
from tracking.detectors import DetectionSettings, DetectionState, process
from tracking.fix import Fix

SETTINGS = DetectionSettings()
PLAN = plan_for([ROUTE[0], ROUTE[-1]])


def _run(levels: list[tuple[float | None, bool | None]], *, accuracy_m: float = 5.0, settings=SETTINGS):
    """Feed fixes standing at the pickup with these (battery, charging) readings; return the events' (kind, action)."""
    state, out = DetectionState(), []
    for i, (pct, charging) in enumerate(levels):
        fix = Fix(ROUTE[0][0], ROUTE[0][1], START + timedelta(seconds=10 * i), seq=i, accuracy_m=accuracy_m,
                  battery_pct=pct, charging=charging)
        state, events, _ = process(state, fix, PLAN, settings)
        out += [(e.kind, e.action, e.detail.get("battery_pct")) for e in events if e.kind == "low_battery"]
    return out


def test_a_falling_battery_raises_once_and_jitter_around_the_threshold_does_not_raise_again():
    levels = [(40, False), (16, False), (15, False), (16, None), (14, False), (15.5, False), (13, False)]
    assert _run(levels) == [("low_battery", "raise", 15)]


def test_a_charger_keeps_it_quiet_and_clears_it_and_a_recovered_battery_clears_it():
    assert _run([(10, True), (9, True)]) == [], "low but charging: nothing to do"
    assert _run([(12, False), (12, True)]) == [("low_battery", "raise", 12), ("low_battery", "resolve", 12)]
    assert _run([(12, None), (19, None), (20, None)]) == [("low_battery", "raise", 12), ("low_battery", "resolve", 20)]
    # Unplugged again while still low: a new episode, a new alert.
    assert [a for _, a, _ in _run([(12, False), (12, True), (11, False)])] == ["raise", "resolve", "raise"]


def test_the_threshold_is_a_setting_and_fixes_without_a_level_change_nothing():
    assert _run([(25, False)], settings=DetectionSettings(low_battery_pct=30)) == [("low_battery", "raise", 25)]
    assert _run([(None, None), (None, False)]) == []
    with pytest.raises(ValueError, match="low_battery_pct"):
        DetectionSettings.from_overrides({"low_battery_pct": 0})


def test_a_noisy_position_still_tells_the_battery():
    assert _run([(8, False)], accuracy_m=5000) == [("low_battery", "raise", 8)]


def test_a_late_fix_from_before_does_not_raise_it():
    state = DetectionState()
    now = Fix(ROUTE[0][0], ROUTE[0][1], START + timedelta(seconds=60), seq=2, accuracy_m=5, battery_pct=60)
    state, _, _ = process(state, now, PLAN, SETTINGS)
    old = Fix(ROUTE[0][0], ROUTE[0][1], START, seq=1, accuracy_m=5, battery_pct=10)
    _, events, _ = process(state, old, PLAN, SETTINGS)
    assert [e for e in events if e.kind == "low_battery"] == []


def _alerts_seen(disp, kind: str, timeout_s: float = 5.0) -> list[dict]:
    """Collect the /dispatch ``alert`` messages of this kind that arrive within the time."""
    got: list[dict] = []
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        got += [m["args"][0] for m in disp.get_received("/dispatch") if m["name"] == "alert"
                and m["args"][0]["kind"] == kind]
        if got and got[-1].get("state") == "resolved":
            break
        time.sleep(0.05)
    return got


def test_the_tablet_battery_reaches_dispatch_and_raises_one_alert(app, client, world, session):
    disp = socketio.test_client(app, namespace="/dispatch", flask_test_client=login(app.test_client(), "dan"))
    disp.get_received("/dispatch")
    dev = socketio.test_client(app, namespace="/device", auth={"token": world.device_token})
    start = utcnow() - timedelta(seconds=60)
    readings = [(40, False), (15, False), (14, False), (13, False)]
    for i, (pct, charging) in enumerate(readings):
        ack = dev.emit("fix", fix_payload(i + 1, lat=ROUTE[0][0], lon=ROUTE[0][1], ts=start + timedelta(seconds=5 * i),
                                          accuracy_m=5, battery_pct=pct, charging=charging),
                       namespace="/device", callback=True)
        assert ack == {"ok": True, "seq": i + 1}
    raised = _alerts_seen(disp, "low_battery", timeout_s=3)
    assert len(raised) == 1 and raised[0]["trip_id"] == world.trip.id
    session.expire_all()
    [alert] = session.exec(select(Alert).where(Alert.kind == "low_battery")).all()
    assert alert.resolved_at is None
    listed = client.get(f"/api/v1/alerts?trip_id={world.trip.id}&open=1", headers=world.bearer("dan")).json
    assert [a["kind"] for a in listed].count("low_battery") == 1
    shown = client.get(f"/api/v1/trips/{world.trip.id}", headers=world.bearer("dan")).json["last_fix"]
    assert shown["battery_pct"] == 13

    # Plugged in: the alert clears (and stays listed as cleared until acknowledged).
    ack = dev.emit("fix", fix_payload(9, lat=ROUTE[0][0], lon=ROUTE[0][1], ts=start + timedelta(seconds=30),
                                      accuracy_m=5, battery_pct=13, charging=True), namespace="/device", callback=True)
    assert ack["ok"] is True
    session.expire_all()
    [alert] = session.exec(select(Alert).where(Alert.kind == "low_battery")).all()
    assert alert.resolved_at is not None


def test_an_odd_charging_flag_is_ignored_and_the_position_kept(client, world, session):
    bearer = {"Authorization": f"Bearer {world.device_token}"}
    resp = client.post("/api/v1/fixes", headers=bearer, json=[fix_payload(1, battery_pct=10, charging="yes")])
    assert resp.status_code == 200 and resp.json == {"accepted": [1], "rejected": []}
    session.expire_all()
    [alert] = session.exec(select(Alert).where(Alert.kind == "low_battery")).all()
    assert alert.detail["charging"] is None, "not said, so a 10 % battery is low"
