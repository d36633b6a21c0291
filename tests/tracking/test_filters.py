"""Tests for tracking.filters: which fixes detection skips, and why."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tracking.detectors import DetectionSettings
from tracking.filters import REASONS, noise_reason, plausible_move
from tracking.fix import Fix
from tracking.geo import Projection

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=timezone.utc)
SETTINGS = DetectionSettings()
HERE = Fix(lat=51.5074, lon=-0.1278, ts=T0, seq=1, accuracy_m=5.0)


def moved(fix: Fix, east_m: float, after_s: float, **changes) -> Fix:
    """Return a fix ``east_m`` east of ``fix``, ``after_s`` later."""
    lat, lon = Projection(fix.lat, fix.lon).to_latlon(east_m, 0.0)
    return replace(fix, lat=lat, lon=lon, ts=fix.ts + timedelta(seconds=after_s), **changes)


def test_a_plausible_fix_passes():
    assert noise_reason(None, HERE, SETTINGS) is None
    assert noise_reason(HERE, moved(HERE, 12, 1), SETTINGS) is None
    assert noise_reason(HERE, replace(HERE, ts=T0 + timedelta(seconds=1), accuracy_m=None), SETTINGS) is None


@pytest.mark.parametrize("changes", [
    {"lat": 91.0}, {"lat": -90.5}, {"lon": 180.5}, {"lat": float("nan")}, {"lon": float("inf")},
    {"ts": datetime(2026, 3, 2, 8, 0)}, {"accuracy_m": -1.0}, {"accuracy_m": float("nan")},
    {"speed_mps": float("inf")},
])
def test_invalid_fixes(changes):
    assert noise_reason(None, replace(HERE, **changes), SETTINGS) == "invalid"


def test_zero_position():
    assert noise_reason(None, replace(HERE, lat=0.0, lon=0.0), SETTINGS) == "zero_position"


def test_not_newer_than_the_last_used_fix_is_never_acted_on():
    assert noise_reason(HERE, moved(HERE, 3, 0), SETTINGS) == "duplicate"
    assert noise_reason(HERE, moved(HERE, 3, -30), SETTINGS) == "out_of_order"


def test_poor_accuracy_is_not_judged():
    assert noise_reason(HERE, moved(HERE, 10, 1, accuracy_m=SETTINGS.max_accuracy_m + 1), SETTINGS) == "poor_accuracy"
    assert noise_reason(HERE, moved(HERE, 10, 1, accuracy_m=SETTINGS.max_accuracy_m), SETTINGS) is None


def test_a_multipath_jump_is_impossible_but_the_same_distance_after_a_gap_is_not():
    assert noise_reason(HERE, moved(HERE, 500, 1), SETTINGS) == "impossible_speed"
    assert noise_reason(HERE, moved(HERE, 500, 15), SETTINGS) is None
    assert noise_reason(HERE, moved(HERE, 90, 1), SETTINGS) is None  # 70 m/s plus the jitter slack


def test_plausible_move_is_symmetric():
    far = moved(HERE, 1000, 10)
    assert plausible_move(HERE, far, 70.0) is False
    assert plausible_move(far, HERE, 70.0) is False
    assert plausible_move(HERE, far, 100.0) is True


@given(
    st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True)),
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(-10_000, 10_000),
    st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True)),
)
def test_never_raises_and_names_a_known_reason(last_lat, lat, lon, dt_s, accuracy_m):
    last = None if last_lat is None or not -90 <= last_lat <= 90 else replace(HERE, lat=last_lat)
    fix = Fix(lat=lat, lon=lon, ts=T0 + timedelta(seconds=dt_s), accuracy_m=accuracy_m)
    assert noise_reason(last, fix, SETTINGS) in REASONS + (None,)
