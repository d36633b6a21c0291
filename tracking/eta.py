"""Pure live ETA: distance left on a leg and when the escort gets there (no framework, no clock).

Two legs: before the patient is on board, the escort's position to the pickup (a routed leg
when a router gives one, else the straight line times an urban detour factor); on board, what
is left of the planned route past the escort's progress along it. The time to drive what is
left blends the recent speed with the expected one: the route's own segment durations where
the router gave them, else the trip's expected urban speed.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from tracking.geo import LatLon, Projection, Route, haversine_m

RECENT_SPEED_WEIGHT = 0.5   # ETA speed = this much recent speed, the rest the expected speed
MIN_ETA_SPEED_MPS = 1.0     # never divide by a standstill
# Road distance over straight-line distance in towns: 1.2-1.4 in published circuity
# measurements (Ballou et al. 2002; Boscoe et al. 2012); 1.3 for a leg nobody routed.
URBAN_DETOUR_FACTOR = 1.3
# Where an estimate comes from, as the screens say it: along a road (a routed leg, a planned
# route) or the straight line with the detour factor (no router answered).
ROAD, STRAIGHT_LINE = "road", "straight line"
# A routed pickup leg is routed again when older than this (traffic and the escort's choices move on)…
LEG_MAX_AGE_S = 180.0
# …or when the escort is further than this from it (took another way: the leg no longer says much);
LEG_OFF_M = 150.0
# a leg the router failed on (a straight line stands in) is asked for again after this.
LEG_RETRY_S = 60.0
# The pickup moved by more than this since the leg was routed: the leg leads elsewhere.
LEG_PICKUP_MOVED_M = 25.0


@dataclass(frozen=True, slots=True)
class Leg:
    """A routed leg: its road distance and, when the router timed it, its duration."""

    distance_m: float
    duration_s: float | None = None


# The seam for a routed pickup leg: given (lat, lon) from and to, a Leg, or None when no
# router answers (the straight line then stands in). The caller passes it in: tracking
# never imports the router.
LegRouter = Callable[[LatLon, LatLon], "Leg | None"]


@dataclass(frozen=True, slots=True)
class Estimate:
    """Where a leg stands: when the escort arrives, how far is left, and to which end."""

    eta_at: datetime
    left_m: float
    to: str  # 'pickup' or 'dropoff'
    source: str = ROAD  # ROAD or STRAIGHT_LINE


class RouteTiming:
    """A planned route's segment durations, as time left from any progress along it."""

    __slots__ = ("_along_m", "_left_s")

    def __init__(self, points: Sequence[LatLon], segment_durations_s: Sequence[float],
                 projection: Projection) -> None:
        """Prepare from the route's (lat, lon) points and one duration per segment (seconds)."""
        if len(segment_durations_s) != len(points) - 1:
            raise ValueError(f"a route of {len(points)} points needs {len(points) - 1} segment durations, "
                             f"got {len(segment_durations_s)}")
        if any(not (d >= 0) for d in segment_durations_s):  # also refuses NaN
            raise ValueError("segment durations must be zero or more seconds")
        along, left = [0.0], [float(sum(segment_durations_s))]
        xy = [projection.to_xy(lat, lon) for lat, lon in points]
        for (x0, y0), (x1, y1), d in zip(xy, xy[1:], segment_durations_s):
            along.append(along[-1] + ((x1 - x0) ** 2 + (y1 - y0) ** 2) ** 0.5)
            left.append(max(0.0, left[-1] - d))
        self._along_m, self._left_s = along, left

    def left_s(self, progress_m: float) -> float:
        """Return the planned seconds left from ``progress_m`` metres along the route."""
        along, left = self._along_m, self._left_s
        if progress_m <= 0.0:
            return left[0]
        if progress_m >= along[-1]:
            return 0.0
        i = bisect_right(along, progress_m) - 1
        span = along[i + 1] - along[i]
        t = (progress_m - along[i]) / span if span > 0 else 1.0
        return left[i] + t * (left[i + 1] - left[i])


def expected_speed_mps(left_m: float, planned_left_s: float | None, default_mps: float) -> float:
    """Return the speed the plan expects for what is left: the router's timing, else the default."""
    if planned_left_s is None or planned_left_s <= 0.0 or left_m <= 0.0:
        return default_mps
    return left_m / planned_left_s


def blended_speed_mps(recent_mps: float | None, expected_mps: float) -> float:
    """Return the speed an ETA assumes: recent speed blended with the expected one, never a standstill.

    A halt (recent speed 0) cannot pull it below MIN_ETA_SPEED_MPS; a router that expects a
    crawl (a jam timed slower than that) is believed.
    """
    floor = min(MIN_ETA_SPEED_MPS, expected_mps)
    if recent_mps is None:
        return max(floor, expected_mps)
    blended = RECENT_SPEED_WEIGHT * max(0.0, recent_mps) + (1 - RECENT_SPEED_WEIGHT) * expected_mps
    return max(floor, blended)


def seconds_left(left_m: float, recent_mps: float | None, expected_mps: float) -> float:
    """Return the seconds ``left_m`` metres take at the blended speed (plain floats: detection calls it per fix)."""
    if recent_mps is None:  # blended_speed_mps inlined for the common cases
        speed = expected_mps
    else:
        speed = RECENT_SPEED_WEIGHT * (recent_mps if recent_mps > 0.0 else 0.0) + (1 - RECENT_SPEED_WEIGHT) * expected_mps
    floor = MIN_ETA_SPEED_MPS if expected_mps > MIN_ETA_SPEED_MPS else expected_mps
    return (left_m if left_m > 0.0 else 0.0) / (speed if speed > floor else floor)


def arrival(at: datetime, left_m: float, recent_mps: float | None, expected_mps: float) -> datetime:
    """Return when ``left_m`` metres are driven, starting at ``at``."""
    return at + timedelta(seconds=seconds_left(left_m, recent_mps, expected_mps))


def on_route(at: datetime, route_length_m: float, progress_m: float, recent_mps: float | None,
             default_mps: float, timing: RouteTiming | None = None, in_dropoff: bool = False) -> Estimate:
    """Return the estimate to drop-off from progress along the planned route."""
    left_m = 0.0 if in_dropoff else max(0.0, route_length_m - progress_m)
    planned_s = timing.left_s(progress_m) if timing is not None else None
    expected = expected_speed_mps(left_m, planned_s, default_mps)
    return Estimate(arrival(at, left_m, recent_mps, expected), left_m, "dropoff")


def to_place(at: datetime, position: LatLon, place: LatLon, recent_mps: float | None, default_mps: float,
             router: LegRouter | None = None, to: str = "pickup") -> Estimate:
    """Return the estimate from the escort's position to a place: a routed leg, else the straight line."""
    leg = router(position, place) if router is not None else None
    source = ROAD
    if leg is None:
        leg, source = Leg(haversine_m(*position, *place) * URBAN_DETOUR_FACTOR), STRAIGHT_LINE
    expected = expected_speed_mps(leg.distance_m, leg.duration_s, default_mps)
    return Estimate(arrival(at, leg.distance_m, recent_mps, expected), leg.distance_m, to, source)


@dataclass(frozen=True, slots=True)
class PickupLeg:
    """A pickup leg as stored: the road route from where the escort was to the pickup, or a failure.

    ``points`` (lat, lon) with ``distance_m`` and the router's ``duration_s`` when the router
    answered; no points and the ``error`` when it did not (the straight line then stands in).
    """

    routed_at: datetime
    origin: LatLon
    to: LatLon
    points: tuple[LatLon, ...] = ()
    distance_m: float | None = None
    duration_s: float | None = None
    router: str | None = None
    error: str | None = None

    @property
    def source(self) -> str:
        """Return ROAD for a routed leg, STRAIGHT_LINE for a failure."""
        return ROAD if len(self.points) >= 2 and self.distance_m is not None else STRAIGHT_LINE

    def to_dict(self) -> dict:
        """Return the leg as JSON-ready data (the time as ISO-8601 UTC)."""
        return {"routed_at": self.routed_at.isoformat(), "origin": list(self.origin), "to": list(self.to),
                "points": [list(p) for p in self.points], "distance_m": self.distance_m,
                "duration_s": self.duration_s, "router": self.router, "error": self.error}

    @classmethod
    def from_dict(cls, data: dict | None) -> "PickupLeg | None":
        """Rebuild a leg from ``to_dict`` output; None for nothing stored or data it cannot read."""
        if not data:
            return None
        try:
            return cls(routed_at=datetime.fromisoformat(data["routed_at"]),
                       origin=(float(data["origin"][0]), float(data["origin"][1])),
                       to=(float(data["to"][0]), float(data["to"][1])),
                       points=tuple((float(p[0]), float(p[1])) for p in data.get("points") or ()),
                       distance_m=_number(data.get("distance_m")), duration_s=_number(data.get("duration_s")),
                       router=data.get("router"), error=data.get("error"))
        except (KeyError, TypeError, ValueError, IndexError):
            return None


def _number(value) -> float | None:
    """Return a stored number as a float, None when absent (ValueError for anything else)."""
    return None if value is None else float(value)


def leg_is_stale(leg: PickupLeg | None, position: LatLon, pickup: LatLon, now: datetime,
                 prepared: "PreparedLeg | None" = None) -> bool:
    """Say whether the pickup leg should be routed again from ``position`` at ``now``.

    Stale: none yet, leading to where the pickup no longer is, older than LEG_MAX_AGE_S
    (LEG_RETRY_S after a failure), or the escort more than LEG_OFF_M off it.
    """
    if leg is None or haversine_m(*leg.to, *pickup) > LEG_PICKUP_MOVED_M:
        return True
    age_s = (now - leg.routed_at).total_seconds()
    if leg.source != ROAD:
        return age_s >= LEG_RETRY_S
    if age_s >= LEG_MAX_AGE_S:
        return True
    prepared = prepared or PreparedLeg(leg)
    return prepared.off_m(position) > LEG_OFF_M


class PreparedLeg:
    """A routed pickup leg ready for locating positions on it (prepare once, locate every fix)."""

    __slots__ = ("leg", "route")

    def __init__(self, leg: PickupLeg) -> None:
        """Prepare ``leg``; a failed leg (no points) prepares to nothing to locate on."""
        self.leg = leg
        self.route = Route(leg.points) if leg.source == ROAD else None

    def off_m(self, position: LatLon) -> float:
        """Return how far ``position`` is from the leg (infinite for a failed leg)."""
        if self.route is None:
            return float("inf")
        return self.route.locate(position[0], position[1], 0.0, window_m=math.inf).distance_m

    def left(self, position: LatLon) -> tuple[float, float | None, float] | None:
        """Return (metres left, router's seconds left or None, metres off the leg) from ``position``."""
        if self.route is None:
            return None
        # The whole leg, nearest first (a leg is short; no progress is kept between fixes).
        located = self.route.locate(position[0], position[1], 0.0, window_m=math.inf)
        length_m = self.route.length_m
        share = max(0.0, 1.0 - located.along_m / length_m) if length_m > 0 else 0.0
        left_s = self.leg.duration_s * share if self.leg.duration_s is not None else None
        return self.leg.distance_m * share + located.distance_m, left_s, located.distance_m


def to_pickup(at: datetime, position: LatLon, pickup: LatLon, recent_mps: float | None, default_mps: float,
              leg: PreparedLeg | None) -> Estimate:
    """Return the estimate to the pickup: along the routed leg while the escort is on it, else the straight line.

    Along the leg: what is left past the escort's progress on it plus the way back onto it,
    at the router's speed for that stretch blended with the recent speed. Off it by more than
    LEG_OFF_M, with a failed leg, or a leg to where the pickup was before it moved: the
    straight line times the urban detour factor.
    """
    leads_there = leg is not None and (leg.leg.to == pickup or haversine_m(*leg.leg.to, *pickup) <= LEG_PICKUP_MOVED_M)
    found = leg.left(position) if leads_there else None
    if found is None or found[2] > LEG_OFF_M:
        return to_place(at, position, pickup, recent_mps, default_mps, None, "pickup")
    left_m, left_s, _off_m = found
    expected = expected_speed_mps(left_m, left_s, default_mps)
    return Estimate(arrival(at, left_m, recent_mps, expected), left_m, "pickup", ROAD)
