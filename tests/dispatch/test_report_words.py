"""The printed trip report says late or early once, and shows the service's local time (ESCORT_TIMEZONE)."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import pytest

from app import create_app
from app.db import upgrade
from tests.conftest import _emptied_at_head, make_config
from tests.factories import login

T0 = datetime(2026, 7, 1, 8, 0, 0, tzinfo=timezone.utc)


@pytest.fixture
def app(tmp_path):
    """An app whose service runs on Berlin time."""
    app = create_app(make_config(tmp_path, timezone="Europe/Berlin"))
    engine = app.extensions["escort"].engine
    if not _emptied_at_head(engine):
        upgrade(engine)
    yield app
    engine.dispose()


def _row(html: str, heading: str) -> list[str]:
    """Return the text of the cells of the figures row headed ``heading``."""
    row = re.search(rf"<tr><th>{re.escape(heading)}</th>(.*?)</tr>", html, re.S)
    assert row, heading
    return [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td>(.*?)</td>", row.group(1), re.S)]


def test_early_and_late_are_said_once_in_local_time(app, world, session):
    trip = world.make_trip(status="completed", now=T0)
    trip.scheduled_pickup_at = T0 + timedelta(minutes=4, seconds=22)   # picked up 4 min 22 s early
    trip.appointment_at = T0 - timedelta(minutes=2, seconds=5)         # arrived 2 min 05 s late
    session.add(trip)
    session.commit()
    html = login(app.test_client(), "dan").get(f"/trips/{trip.id}/report").get_data(as_text=True)
    assert _row(html, "Pickup") == ["2026-07-01 10:04:22 CEST", "2026-07-01 10:00:00 CEST", "4 min 22 s early", "yes"]
    assert _row(html, "Drop-off (appointment)")[1:3] == ["2026-07-01 10:00:00 CEST", "2 min 05 s late"]
    assert "late by" not in html.lower()
    assert "(UTC)" not in html and "Times are in Europe/Berlin." in html
    timeline = html[html.index('id="report-timeline"'):]
    assert "2026-07-01 10:00:00 CEST" in timeline and "08:00:00" not in timeline
