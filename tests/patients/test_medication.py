"""Medication schedules (pure), planning warnings, and the in-transit reminder and alert."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st
from sqlmodel import select

from app.db import utcnow
from dispatch import alerts as alerts_mod
from dispatch import scheduler
from dispatch.models import Alert, TripEvent
from dispatch.notify import Channels
from patients.medication import doses_between
from tests.factories import ROUTE

T0 = datetime(2026, 7, 1, 6, 0, tzinfo=timezone.utc)


def test_times_of_day_are_local_and_returned_in_utc():
    meds = [{"name": "Levodopa", "dose": "100 mg", "times": ["08:00", "14:00"]}]
    doses = doses_between(meds, T0, T0 + timedelta(hours=10), "Europe/London")  # BST: UTC+1
    assert [d.at.strftime("%H:%M") for d in doses] == ["07:00", "13:00"]


def test_every_hours_counts_from_the_last_dose():
    meds = [{"name": "Paracetamol", "dose": "1 g", "every_hours": 6, "last_dose_at": "2026-07-01T02:30:00+00:00"}]
    doses = doses_between(meds, T0, T0 + timedelta(hours=12))
    assert [d.at.strftime("%H:%M") for d in doses] == ["08:30", "14:30"]


@given(st.integers(0, 23), st.integers(0, 59), st.integers(1, 72))
def test_a_daily_time_falls_once_in_any_24_hours(hour, minute, offset_h):
    start = T0 + timedelta(hours=offset_h)
    doses = doses_between([{"name": "x", "dose": "1", "times": [f"{hour:02d}:{minute:02d}"]}], start,
                          start + timedelta(hours=24), "America/New_York")
    assert len(doses) == 1 and start <= doses[0].at < start + timedelta(hours=24)


def test_bad_schedules_are_refused(client, world):
    for med, word in (({"name": "x", "dose": "1", "times": ["25:00"]}, "time of day"),
                      ({"name": "x", "dose": "1"}, "times of day or every_hours"),
                      ({"name": "x", "dose": "1", "every_hours": 4}, "last_dose_at")):
        resp = client.post("/api/v1/patients", json={"name": "P", "medications": [med]}, headers=world.bearer("dan"))
        assert resp.status_code == 400 and word in resp.json["error"], resp.json


def _patient_with_dose_at(client, world, when: datetime) -> int:
    """Create a patient whose medication is due at ``when`` (UTC time of day)."""
    resp = client.post("/api/v1/patients", json={"name": "Med Patient", "medications": [
        {"name": "Insulin", "dose": "8 units", "times": [when.strftime("%H:%M")]}]}, headers=world.bearer("dan"))
    assert resp.status_code == 201, resp.json
    return resp.json["id"]


def test_planning_warns_of_a_dose_inside_the_trip(client, world):
    pickup = (utcnow() + timedelta(hours=1)).replace(second=0, microsecond=0)
    pid = _patient_with_dose_at(client, world, pickup + timedelta(minutes=30))
    resp = client.post("/api/v1/trips", headers=world.bearer("dan"), json={
        "patient_id": pid, "escort": "eve", "pickup": {"lat": ROUTE[0][0], "lon": ROUTE[0][1]},
        "dropoff": {"lat": ROUTE[-1][0], "lon": ROUTE[-1][1]}, "scheduled_pickup_at": pickup.isoformat(),
        "appointment_at": (pickup + timedelta(minutes=60)).isoformat()})
    assert resp.status_code == 201
    [warning] = resp.json["warnings"]
    assert warning["medication"] == "Insulin" and warning["dose"] == "8 units"


def test_dose_in_transit_reminds_the_escort_then_alerts_after_the_grace(client, world, session):
    started = world.trip.started_at.replace(second=0, microsecond=0) + timedelta(minutes=1)
    world.patient.medications = [{"name": "Insulin", "dose": "8 units",
                                  "times": [(started + timedelta(minutes=10)).strftime("%H:%M")]}]
    world.trip.settings = {"medication_grace_s": 600, "signal_lost_after_s": 86400, "checkin_interval_s": 86400}
    session.add_all([world.patient, world.trip])
    session.commit()
    due = started + timedelta(minutes=10)
    before = scheduler.sweep(session, now=due - timedelta(seconds=5), channels=Channels())
    assert [r for r in before.reminders if r["event"] == "medication_due"] == []
    at_dose = scheduler.sweep(session, now=due + timedelta(seconds=5), channels=Channels())
    [reminder] = [r for r in at_dose.reminders if r["event"] == "medication_due"]
    assert reminder["payload"]["medication"] == "Insulin"
    again = scheduler.sweep(session, now=due + timedelta(seconds=10), channels=Channels())
    assert [r for r in again.reminders if r["event"] == "medication_due"] == [], "one reminder per dose"
    assert session.exec(select(Alert).where(Alert.kind == "medication_due")).all() == []
    scheduler.sweep(session, now=due + timedelta(seconds=605), channels=Channels())
    session.expire_all()
    [alert] = session.exec(select(Alert).where(Alert.kind == "medication_due")).all()
    assert "Insulin" not in str(alert.detail), "sealed at rest"
    assert alerts_mod.opened(alert.detail)["medication"] == "Insulin"
    assert len(session.exec(select(TripEvent).where(TripEvent.kind == "medication_reminder")).all()) == 1
