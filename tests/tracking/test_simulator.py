"""The pure trace generator: deterministic, on time, and doing what its scenario says."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from tracking.geo import Route, haversine_m
from tracking.simulator import Detour, Scenario, Stop, generate

START = datetime(2026, 3, 1, 9, 0, tzinfo=timezone.utc)
ROUTE = tuple((51.50, -0.14 + 0.002 * i) for i in range(20))  # ~2.6 km due east


def test_same_seed_same_trace_and_other_seed_differs():
    s = Scenario(route=ROUTE)
    assert generate(s, START, seed=3) == generate(s, START, seed=3)
    assert generate(s, START, seed=3) != generate(s, START, seed=4)


@pytest.mark.parametrize("rate_hz", [1.0, 1 / 15])
def test_fixes_are_spaced_by_the_rate_and_numbered(rate_hz):
    fixes = generate(Scenario(route=ROUTE, rate_hz=rate_hz), START, seed=1)
    gaps = {round((b.ts - a.ts).total_seconds(), 6) for a, b in zip(fixes, fixes[1:])}
    assert gaps == {round(1 / rate_hz, 6)}
    assert [f.seq for f in fixes] == list(range(1, len(fixes) + 1))


def test_plain_drive_stays_near_the_route_and_reaches_its_end():
    route = Route(list(ROUTE))
    fixes = generate(Scenario(route=ROUTE, noise_m=4.0), START, seed=2)
    assert max(route.locate(f.lat, f.lon).distance_m for f in fixes) < 25
    assert route.locate(fixes[-1].lat, fixes[-1].lon).along_m > route.length_m - 30
    assert all(0 <= f.speed_mps < 15 for f in fixes)


def test_detour_goes_out_by_its_offset_for_its_stretch():
    route = Route(list(ROUTE))
    fixes = generate(Scenario(route=ROUTE, detour=Detour(500, 1300, 300)), START, seed=5)
    off = [route.locate(f.lat, f.lon).distance_m for f in fixes]
    far = [d for d in off if d > 200]
    assert max(off) == pytest.approx(300, abs=25)
    assert len(far) > 30, "the detour lasts a while at ~7 m/s over 800 m"


def test_stop_holds_position_for_its_duration():
    fixes = generate(Scenario(route=ROUTE, stops=(Stop(800, 200),)), START, seed=6)
    still = [f for f in fixes if f.speed_mps == 0 and f.seq > 1]  # seq 1 is the standing start
    assert 195 <= len(still) <= 205
    centre = still[len(still) // 2]
    assert max(haversine_m(centre.lat, centre.lon, f.lat, f.lon) for f in still) < 30
