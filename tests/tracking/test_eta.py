"""Tests for tracking.eta: the live ETA's pure arithmetic, its properties, and detection using it."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.tracking.synth import START, Drive, alerts, drive, make_route, plan_for, replay
from tracking import eta
from tracking.detectors import DetectionSettings, DetectionState
from tracking.detectors import eta as state_eta
from tracking.geo import haversine_m

SETTINGS = DetectionSettings()
ROUTE = make_route(60, seed=3)
PLAN = plan_for(ROUTE)

speeds = st.one_of(st.none(), st.floats(0, 60))
metres = st.floats(0, 50_000)


@given(recent=speeds, expected=st.floats(0.01, 40))
def test_the_blended_speed_lies_between_recent_and_expected_and_never_stands_still(recent, expected):
    speed = eta.blended_speed_mps(recent, expected)
    assert speed >= min(eta.MIN_ETA_SPEED_MPS, expected)
    low, high = sorted((expected, expected if recent is None else recent))
    assert min(low, eta.MIN_ETA_SPEED_MPS) - 1e-9 <= speed <= max(high, eta.MIN_ETA_SPEED_MPS) + 1e-9


@given(a=metres, b=metres, recent=speeds, expected=st.floats(0.5, 40))
def test_more_left_is_never_sooner_and_never_before_now(a, b, recent, expected):
    first, second = (eta.arrival(START, m, recent, expected) for m in sorted((a, b)))
    assert START <= first <= second


@given(a=st.floats(-100, 5000), b=st.floats(-100, 5000), recent=speeds)
def test_on_the_route_left_shrinks_with_progress_and_stays_inside_the_route(a, b, recent):
    length_m = PLAN.route.length_m
    behind, ahead = (eta.on_route(START, length_m, p, recent, 8.0, None) for p in sorted((a, b)))
    assert 0.0 <= ahead.left_m <= behind.left_m <= length_m + 100
    assert ahead.eta_at <= behind.eta_at
    assert behind.to == ahead.to == "dropoff"


def _timing(durations):
    return eta.RouteTiming(ROUTE, durations, PLAN.projection)


@given(st.lists(st.floats(0, 600), min_size=len(ROUTE) - 1, max_size=len(ROUTE) - 1), st.floats(-50, 4000),
       st.floats(-50, 4000))
def test_planned_time_left_falls_from_the_total_to_zero(durations, a, b):
    timing = _timing(durations)
    assert timing.left_s(0.0) == pytest.approx(sum(durations))
    assert timing.left_s(PLAN.route.length_m + 1) == 0.0
    first, second = sorted((a, b))
    assert timing.left_s(first) >= timing.left_s(second) - 1e-6 >= -1e-6


def test_segment_durations_at_the_default_speed_give_the_default_eta():
    lengths = [haversine_m(*p, *q) for p, q in zip(ROUTE, ROUTE[1:])]
    timing = _timing([m / 8.0 for m in lengths])
    plain = eta.on_route(START, PLAN.route.length_m, 500.0, None, 8.0, None)
    timed = eta.on_route(START, PLAN.route.length_m, 500.0, None, 8.0, timing)
    assert abs((timed.eta_at - plain.eta_at).total_seconds()) < 0.01 * (plain.eta_at - START).total_seconds()


def test_a_slow_road_ahead_makes_the_eta_later_than_the_urban_default():
    lengths = [haversine_m(*p, *q) for p, q in zip(ROUTE, ROUTE[1:])]
    half = len(lengths) // 2
    # The second half is a jam at 2 m/s; the first half, already driven, was fast.
    timing = _timing([m / 20.0 for m in lengths[:half]] + [m / 2.0 for m in lengths[half:]])
    progress_m = sum(lengths[:half]) + 10
    plain = eta.on_route(START, PLAN.route.length_m, progress_m, None, 8.0, None)
    timed = eta.on_route(START, PLAN.route.length_m, progress_m, None, 8.0, timing)
    left_s = (timed.eta_at - START).total_seconds()
    assert left_s == pytest.approx(timed.left_m / 2.0, rel=0.02)
    assert timed.eta_at > plain.eta_at + timedelta(minutes=5)


def test_segment_durations_must_match_the_route():
    with pytest.raises(ValueError, match="segment durations"):
        _timing([1.0] * 3)
    with pytest.raises(ValueError, match="zero or more"):
        _timing([float("nan")] * (len(ROUTE) - 1))


def test_the_pickup_leg_is_the_straight_line_with_a_detour_factor_without_a_router():
    here, pickup = (60.1699, 24.9384), (60.1841, 24.9533)
    estimate = eta.to_place(START, here, pickup, None, 8.0)
    straight_m = haversine_m(*here, *pickup)
    assert estimate.to == "pickup"
    assert estimate.left_m == pytest.approx(straight_m * eta.URBAN_DETOUR_FACTOR)
    assert estimate.eta_at == START + timedelta(seconds=estimate.left_m / 8.0)


def test_the_pickup_leg_takes_a_routed_leg_through_the_seam_and_falls_back_when_it_has_none():
    here, pickup = (60.1699, 24.9384), (60.1841, 24.9533)
    asked = []

    def router(a, b):
        asked.append((a, b))
        return eta.Leg(distance_m=2500.0, duration_s=500.0)

    routed = eta.to_place(START, here, pickup, None, 8.0, router)
    assert asked == [(here, pickup)]
    assert routed.left_m == 2500.0 and routed.eta_at == START + timedelta(seconds=500)
    fallback = eta.to_place(START, here, pickup, None, 8.0, lambda a, b: None)
    assert fallback.left_m == pytest.approx(haversine_m(*here, *pickup) * eta.URBAN_DETOUR_FACTOR)


@given(st.floats(-60, 60), st.floats(-120, 120), st.floats(-60, 60), st.floats(-120, 120), speeds)
def test_the_pickup_estimate_is_never_negative_or_in_the_past(lat1, lon1, lat2, lon2, recent):
    estimate = eta.to_place(START, (lat1, lon1), (lat2, lon2), recent, 8.0)
    assert estimate.left_m >= 0.0 and estimate.eta_at >= START


def test_detection_times_its_eta_and_late_by_the_routes_segment_durations():
    """A route the router says is slow makes the escort late where the default speed would not."""
    route = make_route(300, seed=4)  # about 10 km
    lengths = [haversine_m(*p, *q) for p, q in zip(route, route[1:])]
    length_m = sum(lengths)
    appointment = START + timedelta(seconds=length_m / 10.0)  # on time at 12 m/s blended with 8 m/s
    fixes = drive(route, Drive(speed_mps=12.0, until_m=length_m / 3)).fixes[:20]
    plain = plan_for(route, appointment_at=appointment)
    slow = plan_for(route, appointment_at=appointment, segment_durations_s=[m / 2.0 for m in lengths])
    state_plain, events_plain = replay(fixes, plain, SETTINGS)
    state_slow, events_slow = replay(fixes, slow, SETTINGS)
    assert alerts(events_plain, "late") == []
    (late,) = alerts(events_slow, "late")
    assert late.detail["late_by_s"] > SETTINGS.late_margin_s
    assert state_slow.eta > state_plain.eta
    # Read later, the ETA agrees with what detection stored at the last fix.
    assert state_eta(state_slow, slow, SETTINGS) == state_slow.eta


def test_the_read_time_eta_moves_with_the_clock_when_fixes_stop():
    state = DetectionState(left_m=4000.0, progress_m=100.0, last_ts=START, speed_mps=8.0)
    later = START + timedelta(minutes=10)
    assert state_eta(state, PLAN, SETTINGS, now_ts=later) == later + timedelta(seconds=500)
    assert state_eta(state, PLAN, SETTINGS, now_ts=START - timedelta(minutes=1)) == START + timedelta(seconds=500)


@given(left=st.floats(-100, 50_000), recent=speeds, expected=st.floats(0.01, 40))
def test_seconds_left_is_the_distance_over_the_blended_speed(left, recent, expected):
    assert eta.seconds_left(left, recent, expected) == pytest.approx(max(0.0, left) / eta.blended_speed_mps(recent, expected))


# ---- the stored pickup leg (routed by the sweep, read on every fix) --------------------------

# A leg due north for about 1 km: 11 points 100 m apart; the router counts 1100 m and 110 s.
LEG_FROM, LEG_TO = (60.1600, 24.9400), (60.1690, 24.9400)
LEG_POINTS = tuple((60.1600 + i * 0.0009, 24.9400) for i in range(11))


def _leg(**over) -> eta.PickupLeg:
    fields = dict(routed_at=START, origin=LEG_FROM, to=LEG_TO, points=LEG_POINTS, distance_m=1100.0,
                  duration_s=110.0, router="embedded")
    fields.update(over)
    return eta.PickupLeg(**fields)


def test_a_pickup_leg_survives_its_json_and_bad_data_reads_as_none():
    leg = _leg()
    assert eta.PickupLeg.from_dict(leg.to_dict()) == leg
    failed = _leg(points=(), distance_m=None, duration_s=None, error="no answer in time")
    assert eta.PickupLeg.from_dict(failed.to_dict()) == failed
    assert leg.source == eta.ROAD and failed.source == eta.STRAIGHT_LINE
    assert eta.PickupLeg.from_dict(None) is None and eta.PickupLeg.from_dict({}) is None
    assert eta.PickupLeg.from_dict({"routed_at": "yesterday", "origin": [1, 2], "to": [3, 4]}) is None
    assert eta.PickupLeg.from_dict({**leg.to_dict(), "distance_m": "far"}) is None


def test_along_the_leg_the_estimate_is_what_is_left_at_the_routers_speed():
    prepared = eta.PreparedLeg(_leg())
    start = eta.to_pickup(START, LEG_FROM, LEG_TO, None, 8.0, prepared)
    assert start.to == "pickup" and start.source == eta.ROAD
    assert start.left_m == pytest.approx(1100.0, abs=1.0)
    assert abs((start.eta_at - START).total_seconds() - 110.0) < 0.2
    halfway = eta.to_pickup(START, LEG_POINTS[5], LEG_TO, None, 8.0, prepared)
    assert halfway.left_m == pytest.approx(550.0, abs=1.0)
    assert abs((halfway.eta_at - START).total_seconds() - 55.0) < 0.2
    # A recent crawl makes it later than the router's time, but never a standstill.
    crawling = eta.to_pickup(START, LEG_POINTS[5], LEG_TO, 0.0, 8.0, prepared)
    assert crawling.eta_at > halfway.eta_at
    assert crawling.eta_at <= START + timedelta(seconds=550.0 / eta.MIN_ETA_SPEED_MPS)


def test_a_little_off_the_leg_adds_the_way_back_and_far_off_it_the_straight_line_stands_in():
    prepared = eta.PreparedLeg(_leg())
    beside = (LEG_POINTS[5][0], 24.9400 + 0.0009)  # about 50 m east of the middle
    near = eta.to_pickup(START, beside, LEG_TO, None, 8.0, prepared)
    assert near.source == eta.ROAD and near.left_m == pytest.approx(550.0 + 50.0, abs=3.0)
    far_away = (LEG_POINTS[5][0], 24.9400 + 0.0054)  # about 300 m east
    far = eta.to_pickup(START, far_away, LEG_TO, None, 8.0, prepared)
    assert far.source == eta.STRAIGHT_LINE
    assert far.left_m == pytest.approx(haversine_m(*far_away, *LEG_TO) * eta.URBAN_DETOUR_FACTOR)


def test_a_failed_leg_or_a_leg_to_a_pickup_that_moved_gives_the_straight_line():
    failed = eta.PreparedLeg(_leg(points=(), distance_m=None, duration_s=None, error="refused"))
    got = eta.to_pickup(START, LEG_FROM, LEG_TO, None, 8.0, failed)
    assert got.source == eta.STRAIGHT_LINE
    assert got.left_m == pytest.approx(haversine_m(*LEG_FROM, *LEG_TO) * eta.URBAN_DETOUR_FACTOR)
    moved = (60.1690, 24.9500)  # the pickup is now about 550 m east of where the leg leads
    assert eta.to_pickup(START, LEG_FROM, moved, None, 8.0, eta.PreparedLeg(_leg())).source == eta.STRAIGHT_LINE
    assert eta.to_pickup(START, LEG_FROM, LEG_TO, None, 8.0, None).source == eta.STRAIGHT_LINE


def test_a_leg_goes_stale_with_age_distance_off_it_a_moved_pickup_and_sooner_after_a_failure():
    leg = _leg()
    assert eta.leg_is_stale(None, LEG_FROM, LEG_TO, START)
    assert not eta.leg_is_stale(leg, LEG_POINTS[3], LEG_TO, START + timedelta(seconds=60))
    assert eta.leg_is_stale(leg, LEG_POINTS[3], LEG_TO, START + timedelta(seconds=eta.LEG_MAX_AGE_S))
    assert eta.leg_is_stale(leg, (LEG_POINTS[3][0], 24.9454), LEG_TO, START + timedelta(seconds=10))  # ~300 m off
    assert eta.leg_is_stale(leg, LEG_POINTS[3], (60.1690, 24.9500), START + timedelta(seconds=10))
    failed = _leg(points=(), distance_m=None, duration_s=None, error="refused")
    assert not eta.leg_is_stale(failed, LEG_FROM, LEG_TO, START + timedelta(seconds=eta.LEG_RETRY_S - 1))
    assert eta.leg_is_stale(failed, LEG_FROM, LEG_TO, START + timedelta(seconds=eta.LEG_RETRY_S))


@given(st.integers(0, 10), st.floats(-0.0005, 0.0005), speeds)
def test_along_the_leg_less_is_left_further_on_and_never_in_the_past(i, east_deg, recent):
    prepared = eta.PreparedLeg(_leg())
    here = (LEG_POINTS[i][0], 24.9400 + east_deg)
    got = eta.to_pickup(START, here, LEG_TO, recent, 8.0, prepared)
    assert got.left_m >= 0.0 and got.eta_at >= START
    if i < 10:
        further = eta.to_pickup(START, (LEG_POINTS[i + 1][0], 24.9400 + east_deg), LEG_TO, recent, 8.0, prepared)
        assert further.left_m <= got.left_m + 1e-6
