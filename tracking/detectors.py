"""Pure detectors: corridor deviation, unexpected stops, geofences, hazard zones, flagged places, progress and ETA.

``step(state, fix, plan, settings) -> (state, events)`` is the whole contract, after the shape
of Traccar's motion processor: static, no storage, no clock but the fix's own ``ts``, so a
replayed trace raises exactly the alerts the live drive raised. ``process`` puts the noise
filter in front of it. The state is small and JSON-serialisable; it lives with the trip.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields, replace
from datetime import datetime, timedelta
from typing import Any, Sequence

import orjson

from tracking import eta as eta_mod
from tracking.eta import RouteTiming
from tracking.filters import noise_reason
from tracking.fix import Fix
from tracking.geo import CircleFence, LatLon, PolygonFence, Projection, Route

ALERT_KINDS = ("deviation", "stop", "late", "hazard_zone", "flagged_place", "low_battery")
NOTICE_KINDS = ("arrived_pickup", "left_pickup", "arrived_dropoff", "left_dropoff", "flagged_place")

# Hysteresis in fixes: one fix is never enough to change what the dispatcher sees.
REJOIN_FIXES = 2        # consecutive fixes within rejoin_m that close a deviation
MOVE_ON_FIXES = 2       # consecutive fixes outside stop_radius_m that end a stop
RUN_HEAD_FIXES = 6      # first fixes of a stationary run kept to date its start (see _stop)
JUMP_ACCEPT_FIXES = 3   # "impossible" jumps in a row are the truth: the last used fix was the outlier

# Progress search window around the last known progress: behind for GPS jitter and a
# reversing van, ahead for what can be driven since the last fix (see _progress).
WINDOW_BEHIND_M = 250.0
WINDOW_AHEAD_M = 300.0
SPEED_TAU_S = 90.0          # time constant of the recent speed average: a red light barely moves it
LATE_RESOLVE_S = 60.0       # 'late' clears only once the ETA is this far back inside the margin
REJOIN_RATIO = 2 / 3        # rejoin_m derived from an overridden corridor_m when not given too
BATTERY_CLEAR_PCT = 5.0     # 'low_battery' clears on a charger or this far above the threshold (no flapping at 15/16 %)
FLAG_NEAR_M = 3000.0        # a plan keeps the flagged places within this of its route, pickup or drop-off

# (low, high) accepted for each setting, inclusive.
_RANGES: dict[str, tuple[float, float]] = {
    "corridor_m": (10, 5000), "rejoin_m": (5, 5000), "offroute_min_s": (0, 3600),
    "offroute_min_fixes": (1, 100), "stop_after_s": (10, 86400), "stop_radius_m": (5, 1000),
    "max_speed_mps": (5, 350), "max_accuracy_m": (5, 100_000), "geofence_margin_m": (0, 1000),
    "expected_speed_mps": (0.5, 100), "late_margin_s": (0, 86400), "low_battery_pct": (1, 90),
}


@dataclass(frozen=True)
class DetectionSettings:
    """Detection thresholds with their documented defaults, each overridable per trip."""

    corridor_m: float = 75.0           # farther than this from the route counts as off it
    rejoin_m: float = 50.0             # back within this counts as on it again (hysteresis)
    offroute_min_s: float = 10.0       # off-route evidence must span this long…
    offroute_min_fixes: int = 2        # …and this many consecutive fixes: one jump never alerts
    stop_after_s: float = 180.0        # stationary this long away from expected places: a stop
    stop_radius_m: float = 30.0        # GPS jitter radius of "stationary"
    max_speed_mps: float = 70.0        # implied speeds above this between fixes are jumps, skipped
    max_accuracy_m: float = 50.0       # fixes reported worse than this are not judged at all
    geofence_margin_m: float = 30.0    # leaving a geofence takes radius + margin (hysteresis)
    expected_speed_mps: float = 8.0    # urban door-to-door average, blended into the ETA
    late_margin_s: float = 300.0       # ETA this far past the appointment raises 'late'
    low_battery_pct: float = 15.0      # battery at or below this, not charging, raises 'low_battery'

    def __post_init__(self) -> None:
        """Refuse values out of range, and a rejoin distance not inside the corridor."""
        for f in fields(self):
            value = getattr(self, f.name)
            low, high = _RANGES[f.name]
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
                raise ValueError(f"setting {f.name} must be a number from {low} to {high}, got {value!r}")
        if not isinstance(self.offroute_min_fixes, int):
            raise ValueError(f"setting offroute_min_fixes must be a whole number, got {self.offroute_min_fixes!r}")
        if self.rejoin_m >= self.corridor_m:
            raise ValueError(f"setting rejoin_m ({self.rejoin_m}) must be less than corridor_m ({self.corridor_m})")

    @classmethod
    def from_overrides(cls, overrides: dict[str, Any] | None) -> DetectionSettings:
        """Return the defaults with a trip's overrides; raise ValueError naming a bad key or value.

        Only detection keys: a trip's other settings (its safety timers) are taken out by
        ``dispatch.settings.detection_settings``, their one home. Overriding corridor_m alone also
        narrows rejoin_m to two thirds of it, so a tighter corridor needs one key, not two.
        """
        if overrides is None:
            return cls()
        if not isinstance(overrides, dict):
            raise ValueError("settings must be an object of name: number")
        known = {f.name: f for f in fields(cls)}
        unknown = sorted(set(overrides) - set(known), key=str)
        if unknown:
            raise ValueError(f"unknown setting {unknown[0]!r}; known: {', '.join(sorted(known))}")
        values = {name: _number(name, value, int if name == "offroute_min_fixes" else float)
                  for name, value in overrides.items() if name in known}
        if "corridor_m" in values and "rejoin_m" not in values:
            values["rejoin_m"] = min(cls.rejoin_m, round(values["corridor_m"] * REJOIN_RATIO, 1))
        return cls(**values)

    def to_dict(self) -> dict[str, float]:
        """Return the settings as a plain JSON-ready dict."""
        return asdict(self)


def _number(name: str, value: Any, kind: type) -> float | int:
    """Return ``value`` as ``kind`` or raise ValueError naming the setting."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"setting {name} must be a number, got {value!r}")
    if kind is int:
        if value != int(value):
            raise ValueError(f"setting {name} must be a whole number, got {value!r}")
        return int(value)
    return float(value)


@dataclass(frozen=True, eq=False)
class FlaggedSpot:
    """A published flagged place as detection sees it: its id, what it warns of, and its fence."""

    place_id: str
    category: str
    reason: str
    fence: CircleFence | PolygonFence


@dataclass(frozen=True, eq=False)
class TripPlan:
    """What detection knows of a trip, prepared once per route version: the caller caches it."""

    route: Route
    pickup: CircleFence
    dropoff: CircleFence
    hazards: tuple[PolygonFence, ...] = ()
    allowed_stops: tuple[CircleFence, ...] = ()
    appointment_at: datetime | None = None
    route_active: bool = True   # the escort is driving the route (patient on board): judge it
    route_planned: bool = True  # False: the route is only the straight pickup→drop-off line
    timing: RouteTiming | None = None  # the router's segment durations, when it gave them
    flagged: tuple[FlaggedSpot, ...] = ()  # published flagged places near the trip

    @property
    def projection(self) -> Projection:
        """Return the plan's local metric projection."""
        return self.route.projection


def build_plan(*, route: Sequence[LatLon], pickup: tuple[float, float, float], dropoff: tuple[float, float, float],
               hazards: Sequence[tuple[str, str, Sequence[LatLon]]] = (),
               allowed_stops: Sequence[tuple[float, float, float]] = (), appointment_at: datetime | None = None,
               route_active: bool = True, segment_durations_s: Sequence[float] | None = None,
               flagged: Sequence[tuple] = ()) -> TripPlan:
    """Prepare a plan from (lat, lon) points and (lat, lon, radius_m) circles.

    ``hazards`` are ``(hazard_id, name, ring)`` with ring a list of (lat, lon). An empty route
    means the straight line pickup→drop-off: it gives progress and an ETA, but no corridor
    alerts, since no real drive follows a straight line. ``segment_durations_s`` (one per
    segment of the route, from a router) time the ETA; without them the expected speed does.
    ``flagged`` are ``(place_id, category, reason, lat, lon, radius_m, ring)`` (a circle, or a
    ring of (lat, lon) when ``ring`` is not empty); only those within FLAG_NEAR_M of the
    route or either end are kept, so a long list costs nothing per fix.
    """
    planned = len(route) >= 2
    points = [tuple(p[:2]) for p in route] if planned else [tuple(pickup[:2]), tuple(dropoff[:2])]
    projection = Projection.about(points + [tuple(pickup[:2]), tuple(dropoff[:2])])
    line = Route(points, projection)
    return TripPlan(
        route=line,
        flagged=_near_spots(flagged, line),
        pickup=CircleFence(*pickup, projection=projection),
        dropoff=CircleFence(*dropoff, projection=projection),
        hazards=tuple(PolygonFence(hid, name, ring, projection) for hid, name, ring in hazards),
        allowed_stops=tuple(CircleFence(*c, projection=projection) for c in allowed_stops),
        appointment_at=appointment_at, route_active=route_active, route_planned=planned,
        timing=RouteTiming(points, segment_durations_s, projection) if planned and segment_durations_s else None,
    )


@dataclass(frozen=True)
class Event:
    """What detection concluded: ``action`` is 'raise' or 'resolve' for alerts, 'notice' otherwise."""

    kind: str
    action: str
    ts: datetime  # the fix's timestamp, never the wall clock
    detail: dict = field(default_factory=dict)


_TIME_FIELDS = frozenset({"last_ts", "off_since", "anchor_since", "eta"})
_SET_FIELDS = frozenset({"in_hazards", "hazard_pending", "run_head", "in_flags", "flag_pending", "flags_seen"})


@dataclass(frozen=True, slots=True)
class DetectionState:
    """Everything detection remembers between fixes; JSON of a few hundred bytes."""

    last_lat: float | None = None      # the last fix detection used (lat, lon, ts)
    last_lon: float | None = None
    last_ts: datetime | None = None
    jump_fixes: int = 0                # "impossible" jumps skipped since
    progress_m: float | None = None    # distance along the route
    left_m: float | None = None        # distance left to its end
    eta: datetime | None = None
    speed_mps: float | None = None     # recent speed, time-weighted average
    off_since: datetime | None = None  # first fix of the current excursion beyond the corridor
    off_fixes: int = 0
    off_max_m: float = 0.0
    rejoin_fixes: int = 0
    deviation_open: bool = False
    anchor_lat: float | None = None    # where the escort stands: the mean of the anchor_fixes
    anchor_lon: float | None = None    # fixes of this stationary run, all within stop_radius_m
    anchor_fixes: int = 0
    anchor_since: datetime | None = None  # the run's first fix: its time and place…
    since_lat: float | None = None
    since_lon: float | None = None
    run_head: tuple[tuple[float, float, float], ...] = ()  # …and the next few: (east_m, north_m, after_s)
    outside_fixes: int = 0             # consecutive fixes beyond stop_radius_m of the anchor
    stop_open: bool = False
    in_pickup: bool = False
    in_dropoff: bool = False
    in_hazards: tuple[str, ...] = ()
    hazard_pending: tuple[str, ...] = ()  # seen inside once, entry not yet confirmed
    in_flags: tuple[str, ...] = ()     # flagged places the escort is in now
    flag_pending: tuple[str, ...] = ()
    flags_seen: tuple[str, ...] = ()   # flagged places already alerted on this trip: once per place per trip
    late_open: bool = False
    battery_low: bool = False          # 'low_battery' raised and not yet cleared: raised once per episode

    def to_dict(self) -> dict[str, Any]:
        """Return the state as JSON-ready data (timestamps as ISO-8601)."""
        out: dict[str, Any] = {}
        for name in self.__slots__:
            value = getattr(self, name)
            out[name] = value.isoformat() if isinstance(value, datetime) else list(value) if isinstance(value, tuple) \
                else value
        return out

    def to_json(self) -> str:
        """Return ``to_dict`` as compact JSON text (orjson reads the slots and dates directly)."""
        return orjson.dumps(self).decode()

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> DetectionState:
        """Rebuild a state from ``to_dict`` output; None or {} gives a fresh state, unknown keys are ignored."""
        if not data:
            return cls()
        kwargs: dict[str, Any] = {}
        for name in cls.__slots__:
            if name not in data:
                continue
            value = data[name]
            if name in _TIME_FIELDS and value is not None:
                value = datetime.fromisoformat(value)
            elif name in _SET_FIELDS:
                value = tuple(tuple(v) if isinstance(v, list) else v for v in value or ())
            kwargs[name] = value
        return cls(**kwargs)


def process(state: DetectionState, fix: Fix, plan: TripPlan,
            settings: DetectionSettings) -> tuple[DetectionState, list[Event], str | None]:
    """Filter the fix against the last used one, then step; return (state, events, skipped reason).

    A skipped fix leaves the state unchanged, except that an "impossible" jump is counted:
    after JUMP_ACCEPT_FIXES of them in a row the new place is taken as the truth (the last
    used fix was the outlier, e.g. a cold start), so detection can never lock itself out.
    """
    # The battery is read from every fix, noisy positions too: a weak GPS says nothing of the battery.
    state, power = _battery(state, fix, settings)
    last = None if state.last_ts is None else Fix(state.last_lat, state.last_lon, state.last_ts)
    reason = noise_reason(last, fix, settings)
    if reason == "impossible_speed":
        if state.jump_fixes + 1 < JUMP_ACCEPT_FIXES:
            return replace(state, jump_fixes=state.jump_fixes + 1), power, reason
        reason = None
    if reason is not None:
        return state, power, reason
    new_state, events = step(state, fix, plan, settings)
    return new_state, power + events, None


def _battery(state: DetectionState, fix: Fix, settings: DetectionSettings) -> tuple[DetectionState, list[Event]]:
    """Raise 'low_battery' once when the level falls to the threshold off a charger; clear it on a charger or well above.

    A fix older than the last one judged tells nothing new (a backlog arriving late).
    """
    if fix.battery_pct is None or (state.last_ts is not None and fix.ts < state.last_ts):
        return state, []
    detail = {"battery_pct": fix.battery_pct, "charging": fix.charging}
    if not state.battery_low and fix.battery_pct <= settings.low_battery_pct and fix.charging is not True:
        return replace(state, battery_low=True), [Event("low_battery", "raise", fix.ts, detail)]
    if state.battery_low and (fix.charging is True or fix.battery_pct >= settings.low_battery_pct + BATTERY_CLEAR_PCT):
        return replace(state, battery_low=False), [Event("low_battery", "resolve", fix.ts, detail)]
    return state, []


def step(state: DetectionState, fix: Fix, plan: TripPlan,
         settings: DetectionSettings) -> tuple[DetectionState, list[Event]]:
    """Advance detection by one clean fix; return the new state and what it concluded."""
    events: list[Event] = []
    changes: dict[str, Any] = {"last_lat": fix.lat, "last_lon": fix.lon, "last_ts": fix.ts}
    if state.jump_fixes:
        changes["jump_fixes"] = 0
    dt_s = (fix.ts - state.last_ts).total_seconds() if state.last_ts is not None else 0.0
    x, y = plan.route.projection.to_xy(fix.lat, fix.lon)
    in_pickup, in_dropoff = _geofences(state, fix, x, y, plan, settings, changes, events)
    if plan.route_active:
        distance_m = _progress(state, fix, x, y, max(dt_s, 0.0), plan, settings, changes)
        if plan.route_planned:
            # At pickup or drop-off the escort is where the trip wants them, route or not.
            _corridor(state, fix, 0.0 if in_pickup or in_dropoff else distance_m, settings, changes, events)
        _eta(state, fix, plan, settings, in_dropoff, changes, events)
    _stop(state, fix, x, y, plan, settings, changes, events)
    if plan.hazards:
        _hazards(state, fix, x, y, plan, settings, changes, events)
    if plan.flagged or state.in_flags:
        _flagged(state, fix, x, y, plan, settings, changes, events)
    return _evolve(state, changes), events


def _evolve(state: DetectionState, changes: dict[str, Any]) -> DetectionState:
    """Return ``dataclasses.replace(state, **changes)`` at half the cost (it runs on every fix).

    The state is frozen and has no ``__post_init__``, so copying the slots is all ``replace`` does.
    """
    new = object.__new__(DetectionState)
    put = object.__setattr__
    for name in DetectionState.__slots__:
        put(new, name, changes[name] if name in changes else getattr(state, name))
    return new


def eta(state: DetectionState, plan: TripPlan, settings: DetectionSettings,
        now_ts: datetime | None = None) -> datetime | None:
    """Return the ETA at the route's end as seen at ``now_ts`` (default: the last fix's time)."""
    if state.left_m is None or state.last_ts is None:
        return None
    at = state.last_ts if now_ts is None or now_ts < state.last_ts else now_ts
    planned_s = plan.timing.left_s(state.progress_m) if plan.timing is not None and state.progress_m is not None \
        else None
    expected = eta_mod.expected_speed_mps(state.left_m, planned_s, settings.expected_speed_mps)
    return eta_mod.arrival(at, state.left_m, state.speed_mps, expected)


def _geofences(state, fix, x, y, plan, settings, changes, events) -> tuple[bool, bool]:
    """Notice arriving at and leaving pickup and drop-off; leaving takes radius + margin."""
    now_inside = []
    for name, fence, inside in (("pickup", plan.pickup, state.in_pickup), ("dropoff", plan.dropoff, state.in_dropoff)):
        d = fence.distance_xy(x, y)
        if inside != (d <= fence.radius_m + (settings.geofence_margin_m if inside else 0.0)):
            inside = not inside
            changes[f"in_{name}"] = inside
            events.append(Event(("arrived_" if inside else "left_") + name, "notice", fix.ts,
                                {"distance_m": round(d, 1), "lat": fix.lat, "lon": fix.lon}))
        now_inside.append(inside)
    return now_inside[0], now_inside[1]


def _progress(state, fix, x, y, dt_s, plan, settings, changes) -> float:
    """Locate the fix on the route; move progress and recent speed when it is in the corridor."""
    # Ahead, the window covers whatever could have been driven since the last fix (a gap).
    ahead_m = WINDOW_AHEAD_M + settings.max_speed_mps * dt_s
    # Another part of the route (it passes nearby) counts only within rejoin_m: a detour that
    # brushes past it is still a detour, and progress must not leap on a doubtful match.
    located = plan.route.locate_xy(x, y, state.progress_m, window_m=ahead_m, behind_m=WINDOW_BEHIND_M,
                                   close_m=settings.corridor_m, elsewhere_m=settings.rejoin_m)
    if located.distance_m > settings.corridor_m:
        return located.distance_m  # off the route, progress is unknown: keep the last
    changes["progress_m"] = located.along_m
    sample = fix.speed_mps
    if sample is None and state.progress_m is not None and dt_s > 0:
        # Progress along the route, unlike the straight distance between two noisy fixes,
        # has zero-mean noise: standing still averages to 0 m/s, not to the jitter.
        sample = (located.along_m - state.progress_m) / dt_s
    if sample is not None and dt_s > 0:
        # The average starts from the expected speed: two fixes at the kerb say nothing yet.
        recent = settings.expected_speed_mps if state.speed_mps is None else state.speed_mps
        changes["speed_mps"] = recent + (1.0 - math.exp(-dt_s / SPEED_TAU_S)) * (sample - recent)
    return located.distance_m


def _corridor(state, fix, distance_m, settings, changes, events) -> None:
    """Raise 'deviation' on sustained evidence beyond corridor_m; resolve it back within rejoin_m."""
    if not state.deviation_open:
        if distance_m <= settings.corridor_m:
            if state.off_fixes:
                changes.update(off_since=None, off_fixes=0, off_max_m=0.0)
            return
        since = state.off_since or fix.ts
        off_fixes = state.off_fixes + 1
        changes.update(off_since=since, off_fixes=off_fixes, off_max_m=max(state.off_max_m, distance_m))
        if off_fixes >= settings.offroute_min_fixes and (fix.ts - since).total_seconds() >= settings.offroute_min_s:
            changes["deviation_open"] = True
            events.append(Event("deviation", "raise", fix.ts, {
                "distance_off_route_m": round(distance_m, 1), "off_since": since.isoformat(),
                "progress_m": _round(state.progress_m), "lat": fix.lat, "lon": fix.lon}))
        return
    if distance_m > settings.rejoin_m:
        changes.update(off_max_m=max(state.off_max_m, distance_m), rejoin_fixes=0)
        return
    if state.rejoin_fixes + 1 < REJOIN_FIXES:
        changes["rejoin_fixes"] = state.rejoin_fixes + 1
        return
    events.append(Event("deviation", "resolve", fix.ts, {
        "max_distance_off_route_m": round(state.off_max_m, 1), "lat": fix.lat, "lon": fix.lon,
        "duration_s": round((fix.ts - state.off_since).total_seconds(), 1) if state.off_since else None}))
    changes.update(deviation_open=False, off_since=None, off_fixes=0, off_max_m=0.0, rejoin_fixes=0)


def _stop(state, fix, x, y, plan, settings, changes, events) -> None:
    """Raise 'stop' once stationary for stop_after_s away from pickup, drop-off and allowed stops.

    A stationary run is fixes within stop_radius_m of their running mean, the anchor (a mean,
    not one fix, so jitter at the halt cannot "move on" from a fix taken while braking); two
    fixes in a row beyond it end the run. Its first fixes may still be pulling in: the stop
    is timed from the first of them within half the radius of where the escort settled.
    """
    proj = plan.route.projection
    if state.anchor_since is None:
        changes.update(_new_run(fix.lat, fix.lon, fix.ts))
        return
    ax, ay = proj.to_xy(state.anchor_lat, state.anchor_lon)
    if math.hypot(x - ax, y - ay) > settings.stop_radius_m:
        if state.outside_fixes + 1 < MOVE_ON_FIXES:  # one fix outside is jitter
            changes["outside_fixes"] = state.outside_fixes + 1
            return
        if state.stop_open:
            events.append(Event("stop", "resolve", fix.ts, {
                "duration_s": round((fix.ts - state.anchor_since).total_seconds(), 1), "lat": fix.lat, "lon": fix.lon}))
        changes.update(_moved_on(state, fix, x, y, proj, settings), stop_open=False)
        return
    n = state.anchor_fixes + 1
    ax, ay = ax + (x - ax) / n, ay + (y - ay) / n
    anchor_lat, anchor_lon = proj.to_latlon(ax, ay)
    changes.update(anchor_lat=anchor_lat, anchor_lon=anchor_lon, anchor_fixes=n, outside_fixes=0)
    sx, sy = proj.to_xy(state.since_lat, state.since_lon)
    if len(state.run_head) < RUN_HEAD_FIXES - 1:
        changes["run_head"] = state.run_head + (_head_entry(x - sx, y - sy, fix.ts - state.anchor_since),)
    if state.stop_open or (fix.ts - state.anchor_since).total_seconds() < settings.stop_after_s:
        return
    since = _settled_since(state, ax - sx, ay - sy, settings)
    stopped_s = (fix.ts - since).total_seconds()
    if stopped_s < settings.stop_after_s or _expected_place(ax, ay, plan, settings):
        return
    changes["stop_open"] = True
    events.append(Event("stop", "raise", fix.ts, {
        "duration_s": round(stopped_s, 1), "since": since.isoformat(), "lat": anchor_lat, "lon": anchor_lon}))


def _settled_since(state, ax, ay, settings) -> datetime:
    """Return when the run settled: its first kept fix within half the radius of the anchor.

    ``ax, ay`` is the anchor relative to the run's first fix. Beyond the kept head, the
    last kept fix stands in (at most a little early, never late).
    """
    half_m = settings.stop_radius_m / 2
    if math.hypot(ax, ay) <= half_m or not state.run_head:
        return state.anchor_since
    for east_m, north_m, after_s in state.run_head:  # noqa: B007  (used after the loop)
        if math.hypot(ax - east_m, ay - north_m) <= half_m:
            break
    return state.anchor_since + timedelta(seconds=after_s)


def _head_entry(east_m: float, north_m: float, after: timedelta) -> tuple[float, float, float]:
    """Return a run-head entry, rounded so the state stays small (and exact through JSON)."""
    return round(east_m, 1), round(north_m, 1), round(after.total_seconds(), 3)


def _new_run(lat: float, lon: float, ts: datetime) -> dict[str, Any]:
    """Return the state changes that start a stationary run at one fix."""
    return {"anchor_lat": lat, "anchor_lon": lon, "anchor_fixes": 1, "anchor_since": ts,
            "since_lat": lat, "since_lon": lon, "run_head": (), "outside_fixes": 0}


def _moved_on(state, fix, x, y, proj, settings) -> dict[str, Any]:
    """Start a new run at this fix, or at the previous one when that was already here.

    The previous fix is the first that left the old anchor: at 15-s sampling, starting the
    run at this one would time a stop a whole interval late.
    """
    lx, ly = proj.to_xy(state.last_lat, state.last_lon)
    if math.hypot(x - lx, y - ly) > settings.stop_radius_m:
        return _new_run(fix.lat, fix.lon, fix.ts)
    anchor_lat, anchor_lon = proj.to_latlon((x + lx) / 2, (y + ly) / 2)
    return {**_new_run(state.last_lat, state.last_lon, state.last_ts), "anchor_lat": anchor_lat,
            "anchor_lon": anchor_lon, "anchor_fixes": 2, "run_head": (_head_entry(x - lx, y - ly, fix.ts - state.last_ts),)}


def _expected_place(x, y, plan, settings) -> bool:
    """Say whether a projected point is at pickup, drop-off or an allowed stop (with the margin)."""
    fences = (plan.pickup, plan.dropoff) + plan.allowed_stops
    return any(f.contains_xy(x, y, settings.geofence_margin_m) for f in fences)


def _near_spots(flagged: Sequence[tuple], route: Route) -> tuple[FlaggedSpot, ...]:
    """Return the flagged places within FLAG_NEAR_M of the route (which runs pickup to drop-off)."""
    spots = []
    for place_id, category, reason, lat, lon, radius_m, ring in flagged:
        if ring:
            fence = PolygonFence(str(place_id), category, [tuple(p) for p in ring], route.projection)
            gap_m = fence.distance_to_m(route)
        elif lat is not None and lon is not None and radius_m:
            fence = CircleFence(lat, lon, radius_m, route.projection)
            gap_m = max(0.0, route.locate_xy(fence.x, fence.y).distance_m - radius_m)
        else:
            continue
        if gap_m <= FLAG_NEAR_M:
            spots.append(FlaggedSpot(str(place_id), category, reason, fence))
    return tuple(spots)


def _flagged(state, fix, x, y, plan, settings, changes, events) -> None:
    """Raise 'flagged_place' and tell the escort on two consecutive fixes inside a place, once per place per trip.

    The alert clears once out of every flagged place (geofence_margin_m of hysteresis), as a
    hazard zone's does; entering the same place again on this trip raises nothing more.
    """
    inside = [s for s in plan.flagged
              if s.fence.contains_xy(x, y, settings.geofence_margin_m if s.place_id in state.in_flags else 0.0)]
    confirmed = tuple(s.place_id for s in inside if s.place_id in state.in_flags or s.place_id in state.flag_pending)
    pending = tuple(s.place_id for s in inside if s.place_id not in confirmed)
    seen = list(state.flags_seen)
    for s in inside:
        if s.place_id in confirmed and s.place_id not in seen:
            seen.append(s.place_id)
            detail = {"place_id": s.place_id, "category": s.category, "reason": s.reason,
                      "lat": fix.lat, "lon": fix.lon}
            events.append(Event("flagged_place", "raise", fix.ts, detail))
            events.append(Event("flagged_place", "notice", fix.ts, detail))
    if state.in_flags and not confirmed:
        events.append(Event("flagged_place", "resolve", fix.ts, {"places": list(state.in_flags),
                                                                 "lat": fix.lat, "lon": fix.lon}))
    if confirmed != state.in_flags or pending != state.flag_pending or len(seen) != len(state.flags_seen):
        changes.update(in_flags=confirmed, flag_pending=pending, flags_seen=tuple(seen))


def _hazards(state, fix, x, y, plan, settings, changes, events) -> None:
    """Raise 'hazard_zone' on two consecutive fixes inside a zone; resolve once out of all of them.

    Being in a zone holds until the fix is geofence_margin_m outside it (hysteresis).
    """
    inside = [h for h in plan.hazards
              if h.contains_xy(x, y, settings.geofence_margin_m if h.fence_id in state.in_hazards else 0.0)]
    confirmed = tuple(h.fence_id for h in inside if h.fence_id in state.in_hazards or h.fence_id in state.hazard_pending)
    pending = tuple(h.fence_id for h in inside if h.fence_id not in confirmed)
    for h in inside:
        if h.fence_id in confirmed and h.fence_id not in state.in_hazards:
            events.append(Event("hazard_zone", "raise", fix.ts, {"zone_id": h.fence_id, "zone": h.name,
                                                                 "lat": fix.lat, "lon": fix.lon}))
    if state.in_hazards and not confirmed:
        events.append(Event("hazard_zone", "resolve", fix.ts, {"zones": list(state.in_hazards),
                                                               "lat": fix.lat, "lon": fix.lon}))
    if confirmed != state.in_hazards or pending != state.hazard_pending:
        changes.update(in_hazards=confirmed, hazard_pending=pending)


def _eta(state, fix, plan, settings, in_dropoff, changes, events) -> None:
    """Update distance left and the ETA; raise or resolve 'late' against the appointment."""
    progress_m = changes.get("progress_m", state.progress_m)
    if progress_m is None:
        return  # never yet on the route: nothing to measure from
    # The same arithmetic as eta.on_route, in plain floats: this runs on every fix.
    left_m = 0.0 if in_dropoff else max(0.0, plan.route.length_m - progress_m)
    expected = settings.expected_speed_mps if plan.timing is None else \
        eta_mod.expected_speed_mps(left_m, plan.timing.left_s(progress_m), settings.expected_speed_mps)
    eta_ts = fix.ts + timedelta(0, eta_mod.seconds_left(left_m, changes.get("speed_mps", state.speed_mps), expected))
    changes["left_m"] = left_m
    changes["eta"] = eta_ts
    if plan.appointment_at is None:
        return
    over_s = (eta_ts - plan.appointment_at).total_seconds() - settings.late_margin_s
    if not state.late_open and over_s > 0:
        changes["late_open"] = True
        events.append(Event("late", "raise", fix.ts, {
            "eta": eta_ts.isoformat(), "late_by_s": round(over_s + settings.late_margin_s),
            "appointment_at": plan.appointment_at.isoformat(), "left_m": round(left_m, 1)}))
    elif state.late_open and over_s < -LATE_RESOLVE_S:
        changes["late_open"] = False
        events.append(Event("late", "resolve", fix.ts, {"eta": eta_ts.isoformat(), "left_m": round(left_m, 1)}))


def _round(value: float | None) -> float | None:
    """Round metres to 0.1 for event details, keeping None."""
    return None if value is None else round(value, 1)
