"""Trip windows are bounded, and so is every expansion derived from them (medication doses)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import func, select

from app.db import utcnow
from dispatch import scheduler
from dispatch.models import Trip, TripEvent
from dispatch.notify import Channels
from patients.medication import doses_between
from tests.factories import ROUTE


def _body(world, **over) -> dict:
    body = {"patient_id": world.patient.id, "escort": "eve",
            "pickup": {"lat": ROUTE[0][0], "lon": ROUTE[0][1]}, "dropoff": {"lat": ROUTE[-1][0], "lon": ROUTE[-1][1]},
            "scheduled_pickup_at": (utcnow() + timedelta(hours=1)).isoformat()}
    body.update(over)
    return body


def _soon(**delta) -> str:
    return (utcnow() + timedelta(hours=1) + timedelta(**delta)).isoformat()


WINDOWS = [
    ("pickup in year 9999", {"scheduled_pickup_at": "9999-06-01T09:00:00Z"}, "scheduled_pickup_at"),
    ("pickup in year 0001", {"scheduled_pickup_at": "0001-06-01T09:00:00Z"}, "scheduled_pickup_at"),
    ("pickup ten years ago", {"scheduled_pickup_at": _soon(days=-3650)}, "scheduled_pickup_at"),
    ("appointment in year 9999", {"appointment_at": "9999-12-31T23:59:59Z"}, "appointment_at"),
    ("appointment a year after pickup", {"appointment_at": _soon(days=365)}, "appointment_at"),
    ("appointment before pickup", {"appointment_at": _soon(hours=-2)}, "appointment_at"),
]


@pytest.mark.parametrize("label,over,field", WINDOWS, ids=[w[0] for w in WINDOWS])
def test_absurd_trip_windows_are_a_400_naming_the_field(client, world, session, label, over, field):
    world.patient.medications = [{"name": "Insulin", "dose": "8 units", "every_hours": 0.5,
                                  "last_dose_at": utcnow().isoformat()}]
    session.add(world.patient)
    session.commit()
    resp = client.post("/api/v1/trips", json=_body(world, **over), headers=world.bearer("dan"))
    assert resp.status_code == 400, (label, resp.status_code, resp.get_data(as_text=True)[:200])
    assert field in resp.json["error"]
    session.expire_all()
    assert session.exec(select(func.count()).select_from(Trip)).one() == 1
    assert session.exec(select(func.count()).select_from(TripEvent)
                        .where(TripEvent.kind == "medication_warning")).one() == 0


def test_a_day_long_trip_is_still_accepted(client, world):
    resp = client.post("/api/v1/trips", json=_body(world, appointment_at=_soon(hours=23)), headers=world.bearer("dan"))
    assert resp.status_code == 201, resp.json


def test_dose_listing_refuses_an_unbounded_window():
    start = utcnow()
    meds = [{"name": "x", "dose": "1", "every_hours": 0.5, "last_dose_at": start.isoformat()}]
    assert len(doses_between(meds, start, start + timedelta(days=1))) == 48
    with pytest.raises(ValueError, match="at most"):
        doses_between(meds, start, start + timedelta(days=365))


def test_a_trip_left_on_board_for_weeks_expands_one_day_of_doses(world, session):
    started = world.trip.started_at
    world.patient.medications = [{"name": "Insulin", "dose": "8 units", "every_hours": 0.5,
                                  "last_dose_at": started.isoformat()}]
    world.trip.settings = {"signal_lost_after_s": 10**7, "checkin_interval_s": 10**7, "escalate_after_s": 10**7}
    session.add_all([world.patient, world.trip])
    session.commit()
    scheduler.sweep(session, now=started + timedelta(days=30), channels=Channels())
    session.expire_all()
    reminders = session.exec(select(func.count()).select_from(TripEvent)
                             .where(TripEvent.kind == "medication_reminder")).one()
    assert 0 < reminders <= 49


def test_a_last_dose_at_the_edge_of_time_is_a_400_not_a_500_when_planning(client, world):
    for when in ("0001-01-01T00:00:00+14:00", "0001-01-01T00:00:00Z", "9999-12-31T23:59:59-12:00"):
        med = {"name": "x", "dose": "1", "every_hours": 4, "last_dose_at": when}
        resp = client.post("/api/v1/patients", json={"name": "P", "medications": [med]}, headers=world.bearer("dan"))
        assert resp.status_code == 400 and "last_dose_at" in resp.json["error"], (when, resp.json)
