"""Retention: raw fixes go after their time; the trip's figures, the trip and the audit log stay."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func
from sqlmodel import select

from app.db import utcnow
from app.models import AuditEvent
from dispatch import triplog
from dispatch.models import Trip, TripEvent
from tests.dispatch.triplog_world import T0, finished_trip
from tracking.models import Fix
from dispatch.retention import purge_fixes


def test_purge_keeps_trip_figures_and_the_audit_log(client, world, session):
    trip, _ = finished_trip(world, session, t0=T0)
    client.get(f"/api/v1/patients/{world.patient.id}", headers=world.bearer("dan"))  # one audit line
    before = triplog.trip_figures(session, trip, triplog.load_track(session, trip.id),
                                  user=world.users["dispatcher"]).as_dict()
    stored = len(triplog.load_track(session, trip.id))
    assert stored > 10 and before["driven_distance_m"] > 0
    old_fixes = session.exec(select(func.count()).select_from(Fix).where(Fix.received_at < utcnow() - timedelta(days=1))).one()
    audit_lines = session.exec(select(func.count()).select_from(AuditEvent)).one()

    lines = []
    deleted = purge_fixes(session, older_than_days=1, now=utcnow(), progress=lines.append)
    assert deleted == old_fixes > 0
    assert any("kept the figures of 1 trips" in line for line in lines)
    session.expire_all()
    assert triplog.load_track(session, trip.id) == [] and session.get(Trip, trip.id) is not None
    [summary] = session.exec(select(TripEvent).where(TripEvent.trip_id == trip.id,
                                                     TripEvent.kind == "track_summary")).all()
    for key in ("driven_distance_m", "planned_distance_m", "off_route_s", "stop_count", "pickup_at", "alert_count"):
        assert summary.detail[key] == before[key], key
    assert summary.detail["fixes"] == stored
    assert session.exec(select(func.count()).select_from(AuditEvent)).one() == audit_lines
    kept = client.get(f"/api/v1/trips/{trip.id}/figures", headers=world.bearer("dan")).json
    assert kept["from_summary"] and kept["driven_distance_m"] == before["driven_distance_m"]
    timeline = client.get(f"/api/v1/trips/{trip.id}/timeline", headers=world.bearer("dan")).json["timeline"]
    assert any("Raw track purged" in item["text"] for item in timeline)
    assert purge_fixes(session, older_than_days=1, now=utcnow()) == 0
    assert len(session.exec(select(TripEvent).where(TripEvent.kind == "track_summary")).all()) == 1
