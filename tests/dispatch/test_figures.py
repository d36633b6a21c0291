"""Trip and period figures from constructed trips, against values worked out by hand (no app)."""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from datetime import datetime, timedelta, timezone

import pytest

from dispatch import figures
from dispatch.figures import AlertTimes, Outcome
from tracking.fix import Fix
from tracking.geo import EARTH_RADIUS_M

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=timezone.utc)
# One unit = 0.001° on the equator: exactly R·π/180·0.001 metres along a meridian or the equator.
UNIT_M = EARTH_RADIUS_M * math.pi / 180 * 0.001


def at(s: float) -> datetime:
    """Return T0 plus ``s`` seconds."""
    return T0 + timedelta(seconds=s)


def fix(s: float, north: float, east: float) -> Fix:
    """Return a fix at T0+s seconds, ``north``/``east`` units from (0, 0)."""
    return Fix(lat=north * 0.001, lon=east * 0.001, ts=at(s))


def constructed_track() -> list[Fix]:
    """Wait 150 s at the pickup, drive east with one detour north, wait 150 s at the drop-off."""
    track = [fix(t, 0, 0) for t in range(0, 151, 10)]                      # 16 fixes, a 150 s stop
    track += [fix(160, 0, 1), fix(170, 0, 2), fix(180, 1, 2), fix(190, 1, 3), fix(200, 1, 4), fix(210, 0, 4)]
    track += [fix(210 + 10 * k, 0, 4 + k) for k in range(1, 7)]            # t=220..270, east to 10
    track += [fix(t, 0, 10) for t in range(280, 421, 10)]                  # with t=270: a 150 s stop
    return track


def constructed_outcome() -> Outcome:
    """Scheduled 5 min before the arrival at pickup; arrived 10 s after the appointment; three alerts."""
    alerts = (AlertTimes("panic", at(100), at(112)), AlertTimes("deviation", at(185), at(230), at(260)),
              AlertTimes("stop", at(400)))
    return Outcome(scheduled_pickup_at=at(-300), appointment_at=at(270), pickup_at=at(0), dropoff_at=at(280),
                   alerts=alerts)


def test_trip_figures_match_the_hand_worked_values():
    route = figures.planned_route([[0.0, 0.0], [0.0, 0.010]], (0, 0), (0, 0.01))
    got = figures.trip_figures(outcome=constructed_outcome(), track=constructed_track(), route=route,
                               on_board_at=at(150))
    d = got.as_dict()
    # Planned: 10 units east. Driven on board (t=150..280): 1+1 east, 1 north, 1+1 east, 1 south, 6 east.
    assert got.planned_distance_m == pytest.approx(10 * UNIT_M, abs=0.05)
    assert got.driven_distance_m == pytest.approx(12 * UNIT_M, abs=0.05)
    # Off route from the first fix 111 m north (t=180) to the first fix back (t=210).
    assert [(s.start_at, s.end_at) for s in got.off_route] == [(at(180), at(210))]
    assert got.off_route_s == 30.0
    assert got.off_route[0].max_distance_m == pytest.approx(UNIT_M, abs=0.2)
    # Two 150 s stops: at the pickup (t=0..150) and at the drop-off (t=270..420).
    assert [(s.start_at, s.end_at) for s in got.stops] == [(at(0), at(150)), (at(270), at(420))]
    assert d["stop_count"] == 2 and d["stopped_s"] == 300.0 and d["longest_stop_s"] == 150.0
    # Pickup 300 s late: within the 600 s grace. Arrival 10 s after the appointment: late.
    assert d["pickup_late_s"] == 300.0 and d["pickup_on_time"] is True
    assert d["dropoff_late_s"] == 10.0 and d["arrival_on_time"] is False
    # Alerts: acknowledged after 12 s and 45 s; the stop never.
    assert d["alert_count"] == 3 and d["acknowledged_count"] == 2
    assert d["mean_ack_s"] == 28.5 and d["max_ack_s"] == 45.0
    assert d["fix_count"] == len(constructed_track()) == 16 + 6 + 6 + 15


def test_indexes_of_stretches_point_into_the_whole_track():
    track = constructed_track()
    route = figures.planned_route([], (0, 0), (0, 0.01))  # no planned route: the straight line
    got = figures.trip_figures(outcome=constructed_outcome(), track=track, route=route, on_board_at=at(150))
    (off,) = got.off_route
    assert track[off.start_index].ts == at(180) and track[off.end_index].ts == at(210)
    assert [(track[s.start_index].ts, track[s.end_index].ts) for s in got.stops] == [(at(0), at(150)), (at(270), at(420))]


def test_without_on_board_time_the_whole_track_counts():
    got = figures.trip_figures(outcome=Outcome(scheduled_pickup_at=T0), track=constructed_track(),
                               route=figures.planned_route([[0, 0], [0, 0.01]], (0, 0), (0, 0.01)), on_board_at=None)
    assert got.driven_distance_m == pytest.approx(12 * UNIT_M, abs=0.05)  # the waits add nothing
    assert got.as_dict()["pickup_on_time"] is None and got.as_dict()["arrival_on_time"] is None


def test_a_stop_shorter_than_the_minimum_and_jitter_outside_the_radius():
    short = [fix(t, 0, 0) for t in range(0, 110, 10)] + [fix(120, 0, 1)]
    assert figures.find_stops(short, 30.0, 120.0) == []
    # 0.0002° (22 m) of jitter stays inside 30 m; 0.0003° (33 m) breaks the run.
    jitter = [fix(t, 0, 0.2 * (t // 10 % 2)) for t in range(0, 130, 10)]
    assert [s.duration_s for s in figures.find_stops(jitter, 30.0, 120.0)] == [120.0]
    broken = [fix(t, 0, 0.3 * (t // 10 % 2)) for t in range(0, 130, 10)]
    assert figures.find_stops(broken, 30.0, 120.0) == []


def test_empty_track():
    got = figures.trip_figures(outcome=Outcome(scheduled_pickup_at=T0), track=[],
                               route=figures.planned_route([], (0, 0), (0, 0.01)), on_board_at=at(0))
    assert got.driven_distance_m == 0 and got.off_route == () and got.stops == ()


def period_outcomes() -> list[Outcome]:
    """Four trips on two days, with their expected rates worked out in the test."""
    a = constructed_outcome()                                                           # day 1
    b = Outcome(scheduled_pickup_at=at(3600), appointment_at=at(7200), pickup_at=at(3600 + 601),
                dropoff_at=at(7200 - 60))                                               # day 1
    c = Outcome(scheduled_pickup_at=at(86400), pickup_at=at(86400 - 120),
                alerts=(AlertTimes("late", at(86500), at(86600)),))                     # day 2
    d = Outcome(scheduled_pickup_at=at(90000), appointment_at=at(93600))               # day 2, cancelled
    return [a, b, c, d]


def test_period_figures_match_the_hand_worked_values():
    got = figures.period_figures(period_outcomes())
    # Pickups measured: a (300 s late, on time), b (601 s, late), c (early, on time) → 2/3.
    assert (got.pickups_measured, got.pickups_on_time) == (3, 2)
    assert got.on_time_pickup_rate == pytest.approx(2 / 3)
    # Arrivals measured: a (10 s late), b (60 s early) → 1/2; c has no appointment, d no arrival.
    assert (got.arrivals_measured, got.arrivals_on_time) == (2, 1)
    assert got.on_time_arrival_rate == 0.5
    # 4 alerts on 4 trips; acknowledged after 12, 45 and 100 s → median 45.
    assert got.alerts_per_100_trips == 100.0
    assert got.median_ack_s == 45.0
    assert got.as_dict()["on_time_pickup_rate"] == 0.6667


def test_period_of_nothing():
    got = figures.period_figures([])
    assert got.on_time_pickup_rate is None and got.alerts_per_100_trips is None and got.median_ack_s is None


def test_by_day_and_the_chart():
    days = figures.by_day(period_outcomes())
    assert [label for label, _ in days] == ["2026-11-20", "2026-11-21"]
    assert [f.trip_count for _, f in days] == [2, 2]
    assert days[0][1].on_time_pickup_rate == 0.5 and days[1][1].on_time_pickup_rate == 1.0
    svg = figures.chart_svg(days)
    root = ET.fromstring(svg)  # well-formed
    ns = "{http://www.w3.org/2000/svg}"
    assert len(root.findall(f"{ns}rect")) == 2
    pickup = root.find(f"{ns}polyline[@class='rate-line pickup']")
    ys = [float(p.split(",")[1]) for p in pickup.get("points").split()]
    # 50 % sits halfway down the 170 px plot that starts at y=16; 100 % at its top.
    assert ys == [pytest.approx(16 + 85), pytest.approx(16)]
    assert "No trips" in figures.chart_svg([])


def test_by_day_groups_by_week_over_long_periods():
    outcomes = [Outcome(scheduled_pickup_at=T0 + timedelta(days=k)) for k in range(100)]
    weeks = figures.by_day(outcomes)
    assert len(weeks) == 15 and sum(f.trip_count for _, f in weeks) == 100
    assert weeks[0][1].trip_count == 7


def test_by_day_shows_every_day_of_the_period_in_the_local_time_zone():
    from datetime import date
    from zoneinfo import ZoneInfo

    late_evening = Outcome(scheduled_pickup_at=datetime(2026, 7, 1, 23, 30, tzinfo=timezone.utc))  # 00:30 in London
    days = figures.by_day([late_evening], start=date(2026, 6, 30), end=date(2026, 7, 3), tz=ZoneInfo("Europe/London"))
    assert [(label, f.trip_count) for label, f in days] == [
        ("2026-06-30", 0), ("2026-07-01", 0), ("2026-07-02", 1), ("2026-07-03", 0)]
    assert figures.by_day([], start=date(2026, 6, 30), end=date(2026, 6, 30))[0][1].on_time_pickup_rate is None
    svg = ET.fromstring(figures.chart_svg(days))
    assert len(svg.findall("{http://www.w3.org/2000/svg}rect")) == 4
