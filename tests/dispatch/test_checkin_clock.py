"""The check-in clock as a pure rule: evidence of life, and what a deviation or stop alert changes."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from dispatch.safety import checkin_clock

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=timezone.utc)
TIMERS = {"interval_s": 1800.0, "grace_s": 300.0}


def _at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def test_driving_the_route_keeps_the_clock_going():
    clock = checkin_clock(started_at=T0, last_checkin=None, last_driven=_at(50), on_board=True, paused_at=None,
                          **TIMERS)
    assert (clock.remind_at, clock.due_at, clock.missed_at) == (_at(78), _at(80), _at(85))


def test_an_alert_opening_asks_for_a_checkin_within_the_grace_not_from_the_stale_start():
    clock = checkin_clock(started_at=T0, last_checkin=None, last_driven=_at(52), on_board=True, paused_at=_at(50),
                          **TIMERS)
    assert (clock.remind_at, clock.due_at, clock.missed_at) == (_at(50), _at(55), _at(55))


def test_a_checkin_after_the_alert_opened_answers_it():
    clock = checkin_clock(started_at=T0, last_checkin=_at(52), last_driven=_at(60), on_board=True,
                          paused_at=_at(50), **TIMERS)
    assert clock.due_at == _at(82), "from the check-in: the fixes during the alert do not count"


def test_an_earlier_deadline_is_kept_when_the_alert_comes_late():
    # Not driving (no fix came through detection) and no check-in: the start's deadline is earlier.
    clock = checkin_clock(started_at=T0, last_checkin=None, last_driven=None, on_board=True, paused_at=_at(33),
                          **TIMERS)
    assert (clock.due_at, clock.missed_at) == (_at(30), _at(35))


def test_off_board_the_drive_is_no_evidence_and_nothing_before_the_start():
    clock = checkin_clock(started_at=T0, last_checkin=None, last_driven=_at(50), on_board=False,
                          paused_at=_at(40), **TIMERS)
    assert clock.due_at == _at(30)
    assert checkin_clock(started_at=None, last_checkin=None, last_driven=None, on_board=False, paused_at=None,
                         **TIMERS) is None
