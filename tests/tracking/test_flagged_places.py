"""The flagged-place detector (pure): entering a published flagged place warns once per place per trip."""

from __future__ import annotations

from functools import lru_cache

from tests.tracking.synth import START, Drive, alerts, drive, make_route, plan_for, replay
from tracking.detectors import FLAG_NEAR_M, DetectionSettings, DetectionState, step
from tracking.fix import Fix
from tracking.geo import Projection

SETTINGS = DetectionSettings()


@lru_cache(maxsize=None)
def route() -> tuple[tuple[float, float], ...]:
    """Return a ~5 km test route."""
    return tuple(make_route(150, seed=3))


def _at(along_m: float) -> tuple[float, float]:
    """Return the (lat, lon) this far along the test route."""
    return plan_for(list(route())).route.point_at(along_m)


def _offset(lat: float, lon: float, east_m: float, north_m: float) -> tuple[float, float]:
    """Return a point east_m and north_m of (lat, lon)."""
    proj = Projection(lat, lon)
    return proj.to_latlon(east_m, north_m)


def _circle(place_id: str, along_m: float, radius_m: float = 40.0, category: str = "dog",
            reason: str = "Large dog loose in the yard") -> tuple:
    lat, lon = _at(along_m)
    return (place_id, category, reason, lat, lon, radius_m, ())


def test_entering_a_flagged_place_raises_and_tells_the_escort_once_and_clears_on_leaving():
    trip = plan_for(list(route()), flagged=[_circle("7", 2000.0)])
    _state, events = replay(drive(list(route()), Drive()).fixes, trip)
    (entered,) = alerts(events, "flagged_place")
    (left,) = alerts(events, "flagged_place", "resolve")
    notices = [e for e in events if e.kind == "flagged_place" and e.action == "notice"]
    assert len(notices) == 1 and notices[0].ts == entered.ts
    assert entered.detail["place_id"] == "7" and entered.detail["category"] == "dog"
    assert notices[0].detail["reason"] == "Large dog loose in the yard"
    assert "reported_by" not in entered.detail and "reported_by" not in notices[0].detail
    assert left.ts > entered.ts


def test_the_same_place_entered_again_on_the_trip_raises_nothing_more_but_another_place_does():
    inside = Fix(*_at(2000.0), START)
    out = Fix(*_offset(inside.lat, inside.lon, 0, 500), START)
    other = Fix(*_at(3000.0), START)
    trip = plan_for(list(route()), flagged=[_circle("7", 2000.0), _circle("8", 3000.0, category="access")])
    state, events = DetectionState(), []
    # In twice, out, in twice again, then the other place. 10 s apart: no "impossible" jumps.
    path = [inside, inside, out, out, inside, inside, out, other, other]
    for i, place in enumerate(path):
        fix = Fix(place.lat, place.lon, START.replace(minute=i * 2))
        state, new = step(state, fix, trip, SETTINGS)
        events.extend(new)
    raised = [e.detail["place_id"] for e in events if e.kind == "flagged_place" and e.action == "raise"]
    assert raised == ["7", "8"], "once per place per trip"
    assert set(state.flags_seen) == {"7", "8"}
    assert DetectionState.from_dict(state.to_dict()) == state


def test_a_single_fix_inside_raises_nothing():
    inside = Fix(*_at(2000.0), START)
    trip = plan_for(list(route()), flagged=[_circle("7", 2000.0)])
    state, events = DetectionState(), []
    for i, place in enumerate((_offset(inside.lat, inside.lon, 0, 400), (inside.lat, inside.lon),
                               _offset(inside.lat, inside.lon, 0, 400))):
        state, new = step(state, Fix(*place, START.replace(minute=i)), trip, SETTINGS)
        events.extend(new)
    assert [e for e in events if e.kind == "flagged_place"] == []


def test_the_plan_keeps_only_places_near_the_trip_and_takes_polygons():
    lat, lon = _at(2500.0)
    near = ("1",) + _circle("1", 2500.0)[1:]
    far_lat, far_lon = _offset(lat, lon, 0, FLAG_NEAR_M + 2000)
    far = ("2", "dog", "r", far_lat, far_lon, 50.0, ())
    sq = [_offset(lat, lon, e, n) for e, n in ((-50, 2900), (50, 2900), (50, 2950), (-50, 2950))]
    polygon_near = ("3", "access", "r", None, None, None, tuple(sq))
    trip = plan_for(list(route()), flagged=[near, far, polygon_near])
    kept = sorted(s.place_id for s in trip.flagged)
    # The square is under 3 km from the route's point at 2.5 km (it may be nearer to another part).
    assert kept == ["1", "3"]

