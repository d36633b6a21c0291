"""The board's pure parts: which day, its bounds in the office's zone, and how late a row is."""

from __future__ import annotations

from datetime import date, datetime, timezone

import pytest

from dispatch import board

NOW = datetime(2026, 12, 1, 10, 0, tzinfo=timezone.utc)


def test_a_day_is_read_or_refused_in_words():
    assert board.parse_day(None, today=date(2026, 12, 1)) == date(2026, 12, 1)
    assert board.parse_day("2026-07-03", today=date(2026, 12, 1)) == date(2026, 7, 3)
    for bad in ("tomorrow", "2026-02-30", "1999-12-31"):
        with pytest.raises(board.BoardError):
            board.parse_day(bad, today=date(2026, 12, 1))


def test_a_local_day_in_summer_starts_an_hour_before_utc_midnight():
    start, end = board.day_bounds(date(2026, 7, 3), "Europe/London")
    assert start == datetime(2026, 7, 2, 23, 0, tzinfo=timezone.utc)
    assert end == datetime(2026, 7, 3, 23, 0, tzinfo=timezone.utc)


def _trip(status: str, **times) -> dict:
    return {"status": status, "scheduled_pickup_at": "2026-12-01T09:50:00Z",
            "appointment_at": "2026-12-01T10:30:00Z", **times}


def test_a_trip_not_started_after_its_pickup_time_is_late_by_the_planned_times():
    assert board.lateness_s(_trip("assigned"), now=NOW) == 600
    assert board.lateness_s(_trip("scheduled"), now=NOW) == 600
    assert board.lateness_s(_trip("on_board"), now=NOW) is None  # under way: only an ETA can say


def test_with_an_eta_the_lateness_is_against_the_next_target():
    assert board.lateness_s(_trip("on_board", eta_at="2026-12-01T10:40:00Z"), now=NOW) == 600
    assert board.lateness_s(_trip("en_route_pickup", eta_at="2026-12-01T09:45:00Z"), now=NOW) == -300


def test_every_status_belongs_to_one_group_and_has_words():
    from dispatch.trips import STATUSES

    assert set(board.GROUP_OF) == set(STATUSES) == set(board.STATUS_WORDS)
