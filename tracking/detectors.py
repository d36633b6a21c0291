"""Pure detectors: corridor deviation, unexpected stops, geofences, progress, ETA and lateness.

``step(state, fix, plan, settings) -> (state, events)`` is the whole contract, after the
shape of Traccar's motion processor: static, no storage, no clock but the fix's own ``ts``.
The state is small and JSON-serialisable so it lives with the trip in the database.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace
from datetime import datetime, timedelta
from typing import Any, Sequence

from tracking.filters import noise_reason
from tracking.fix import Fix
from tracking.geo import Circle, Projection, Route, Zone, haversine_m

# Settings that belong to the safety timers (dispatch.settings), accepted here and ignored.
FOREIGN_KEYS = frozenset({"checkin_interval_s", "checkin_grace_s", "signal_lost_after_s", "escalate_after_s"})


@dataclass(frozen=True)
class DetectionSettings:
    """Thresholds, each overridable per trip; the defaults are the documented ones."""

    corridor_m: float = 100.0          # farther than this from the route counts as off it
    rejoin_m: float = 60.0             # back within this counts as on it again (hysteresis)
    offroute_min_s: float = 8.0        # off-route evidence must span this long…
    offroute_min_fixes: int = 2        # …and this many fixes, so one jump never alerts
    stop_after_s: float = 180.0        # stationary this long outside pickup and drop-off: a stop
    stop_radius_m: float = 35.0        # jitter radius of "stationary"
    max_speed_mps: float = 70.0        # implied speeds above this are jumps, skipped
    max_accuracy_m: float = 50.0       # fixes reported worse than this are not judged
    geofence_margin_m: float = 30.0    # leaving a geofence needs radius + margin (hysteresis)
    expected_speed_mps: float = 8.0    # urban door-to-door average, blended into the ETA
    late_margin_s: float = 300.0       # ETA this far past the appointment raises ``late``

    def __post_init__(self) -> None:
        """Refuse settings that cannot work together."""
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
                raise ValueError(f"settings.{f.name} must be a positive number")
        if self.rejoin_m >= self.corridor_m:
            raise ValueError("settings.rejoin_m must be smaller than settings.corridor_m")

    @classmethod
    def from_overrides(cls, overrides: dict[str, Any] | None) -> "DetectionSettings":
        """Return the defaults with per-trip overrides; ValueError names a bad key."""
        overrides = dict(overrides or {})
        known = {f.name for f in fields(cls)}
        unknown = set(overrides) - known - FOREIGN_KEYS
        if unknown:
            raise ValueError(f"unknown setting {sorted(unknown)[0]!r}; known: {', '.join(sorted(known | FOREIGN_KEYS))}")
        values = {k: v for k, v in overrides.items() if k in known}
        for key, value in values.items():
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ValueError(f"settings.{key} must be a number")
        return cls(**values)

    def to_dict(self) -> dict[str, float]:
        """Return the settings as a plain dict."""
        return asdict(self)


@dataclass(frozen=True)
class TripPlan:
    """What detection knows of a trip: its prepared route, geofences, zones and appointment."""

    route: Route
    pickup: Circle
    dropoff: Circle
    zones: tuple[Zone, ...] = ()
    allowed_stops: tuple[Circle, ...] = ()
    appointment_at: datetime | None = None
    route_active: bool = True  # the escort is driving the planned route (patient on board)


def build_plan(*, route: Sequence[tuple[float, float]], pickup: tuple[float, float, float],
               dropoff: tuple[float, float, float], zones: Sequence[tuple[str, str, Sequence]] = (),
               allowed_stops: Sequence[tuple[float, float, float]] = (), appointment_at: datetime | None = None,
               route_active: bool = True) -> TripPlan:
    """Prepare a plan; an empty route means the straight line from pickup to drop-off."""
    points = list(route) if len(route) >= 2 else [pickup[:2], dropoff[:2]]
    projection = Projection.about(points + [pickup[:2], dropoff[:2]])
    return TripPlan(
        route=Route(points, projection), pickup=Circle(*pickup), dropoff=Circle(*dropoff),
        zones=tuple(Zone(zid, name, ring, projection) for zid, name, ring in zones),
        allowed_stops=tuple(Circle(*c) for c in allowed_stops), appointment_at=appointment_at,
        route_active=route_active,
    )


@dataclass(frozen=True)
class Event:
    """Something detection concluded: an alert to raise or resolve, or a notice."""

    kind: str
    action: str  # "raise" | "resolve" | "notice"
    ts: datetime
    detail: dict = field(default_factory=dict)


@dataclass(frozen=True)
class DetectionState:
    """Everything detection remembers between fixes; a few hundred bytes as JSON."""

    last_lat: float | None = None
    last_lon: float | None = None
    last_ts: datetime | None = None
    jump_streak: int = 0
    along_m: float | None = None
    left_m: float | None = None
    off_since: datetime | None = None
    off_fixes: int = 0
    off_max_m: float = 0.0
    deviation_open: bool = False
    anchor_lat: float | None = None
    anchor_lon: float | None = None
    anchor_since: datetime | None = None
    outside_anchor: int = 0
    stop_open: bool = False
    in_pickup: bool = False
    in_dropoff: bool = False
    in_zones: tuple[str, ...] = ()
    speed_mps: float | None = None
    eta: datetime | None = None
    late_open: bool = False

    def to_dict(self) -> dict:
        """Return the state as JSON-ready data."""
        out = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, datetime):
                value = value.isoformat()
            elif isinstance(value, tuple):
                value = list(value)
            out[f.name] = value
        return out

    @classmethod
    def from_dict(cls, data: dict | None) -> "DetectionState":
        """Rebuild a state from ``to_dict`` output; None or {} gives a fresh state."""
        if not data:
            return cls()
        kwargs = {}
        for f in fields(cls):
            if f.name not in data:
                continue
            value = data[f.name]
            if f.name in ("last_ts", "off_since", "anchor_since", "eta") and value is not None:
                value = datetime.fromisoformat(value)
            elif f.name == "in_zones":
                value = tuple(value)
            kwargs[f.name] = value
        return cls(**kwargs)


def process(state: DetectionState, fix: Fix, plan: TripPlan,
            settings: DetectionSettings) -> tuple[DetectionState, list[Event], str | None]:
    """Filter the fix, then step; a skipped fix leaves the state as it was (but for jump counting)."""
    reason = noise_reason(state.last_lat, state.last_lon, state.last_ts, fix, max_speed_mps=settings.max_speed_mps,
                          max_accuracy_m=settings.max_accuracy_m, jump_streak=state.jump_streak)
    if reason == "impossible_speed":
        return replace(state, jump_streak=state.jump_streak + 1), [], reason
    if reason is not None:
        return state, [], reason
    new_state, events = step(state, fix, plan, settings)
    return new_state, events, None


def step(state: DetectionState, fix: Fix, plan: TripPlan,
         settings: DetectionSettings) -> tuple[DetectionState, list[Event]]:
    """Advance detection by one clean fix; return the new state and what it concluded."""
    events: list[Event] = []
    changes: dict[str, Any] = {"last_lat": fix.lat, "last_lon": fix.lon, "last_ts": fix.ts, "jump_streak": 0}
    px, py = plan.route.projection.to_xy(fix.lat, fix.lon)
    located = plan.route.locate_xy(px, py, near_along_m=state.along_m)
    _geofences(state, fix, plan, settings, changes, events)
    if plan.route_active:
        _corridor(state, fix, located.distance_m, settings, changes, events)
        changes["along_m"] = located.along_m if located.distance_m <= settings.corridor_m else state.along_m
    _stop(state, fix, plan, settings, changes, events)
    _zones(state, fix, plan, px, py, changes, events)
    _eta(state, fix, plan, settings, located.along_m if located.distance_m <= settings.corridor_m else None,
         changes, events)
    return replace(state, **changes), events


def _corridor(state, fix, distance_m, settings, changes, events) -> None:
    """Raise ``deviation`` on sustained evidence beyond the corridor; clear it well inside."""
    if distance_m > settings.corridor_m:
        off_since = state.off_since or fix.ts
        off_fixes = state.off_fixes + 1
        off_max = max(state.off_max_m, distance_m)
        changes.update(off_since=off_since, off_fixes=off_fixes, off_max_m=off_max)
        sustained = off_fixes >= settings.offroute_min_fixes and \
            (fix.ts - off_since).total_seconds() >= settings.offroute_min_s
        if sustained and not state.deviation_open:
            changes["deviation_open"] = True
            events.append(Event("deviation", "raise", fix.ts, {
                "distance_off_route_m": round(distance_m, 1), "off_since": off_since.isoformat(),
                "lat": fix.lat, "lon": fix.lon}))
        elif state.deviation_open:
            changes["deviation_open"] = True
    elif distance_m <= settings.rejoin_m or not state.deviation_open:
        if state.deviation_open:
            events.append(Event("deviation", "resolve", fix.ts, {
                "max_distance_off_route_m": round(state.off_max_m, 1),
                "duration_s": round((fix.ts - state.off_since).total_seconds(), 1) if state.off_since else None}))
        changes.update(off_since=None, off_fixes=0, off_max_m=0.0, deviation_open=False)


def _inside_any(fix: Fix, circles, margin_m: float) -> bool:
    """Say whether the fix lies within any circle (grown by a margin)."""
    return any(c.distance_m(fix.lat, fix.lon) <= c.radius_m + margin_m for c in circles)


def _stop(state, fix, plan, settings, changes, events) -> None:
    """Raise ``stop`` when stationary past ``stop_after_s`` away from expected places."""
    if state.anchor_lat is None:
        changes.update(anchor_lat=fix.lat, anchor_lon=fix.lon, anchor_since=fix.ts, outside_anchor=0)
        return
    moved_m = haversine_m(state.anchor_lat, state.anchor_lon, fix.lat, fix.lon)
    if moved_m > settings.stop_radius_m:
        # One fix outside the radius is jitter; two in a row is moving on.
        if state.outside_anchor + 1 < 2:
            changes["outside_anchor"] = state.outside_anchor + 1
            return
        if state.stop_open:
            events.append(Event("stop", "resolve", fix.ts, {
                "duration_s": round((fix.ts - state.anchor_since).total_seconds(), 1)}))
        changes.update(anchor_lat=fix.lat, anchor_lon=fix.lon, anchor_since=fix.ts, outside_anchor=0, stop_open=False)
        return
    changes["outside_anchor"] = 0
    stopped_s = (fix.ts - state.anchor_since).total_seconds()
    if state.stop_open or stopped_s < settings.stop_after_s:
        return
    expected = (plan.pickup, plan.dropoff) + plan.allowed_stops
    if _inside_any(fix, expected, settings.geofence_margin_m):
        return
    changes["stop_open"] = True
    events.append(Event("stop", "raise", fix.ts, {
        "duration_s": round(stopped_s, 1), "since": state.anchor_since.isoformat(),
        "lat": state.anchor_lat, "lon": state.anchor_lon}))


def _geofences(state, fix, plan, settings, changes, events) -> None:
    """Notice arriving at and leaving pickup and drop-off, with enter/leave hysteresis."""
    for name, circle, inside in (("pickup", plan.pickup, state.in_pickup), ("dropoff", plan.dropoff, state.in_dropoff)):
        d = circle.distance_m(fix.lat, fix.lon)
        if not inside and d <= circle.radius_m:
            changes[f"in_{name}"] = True
            events.append(Event(f"arrived_{name}", "notice", fix.ts, {"distance_m": round(d, 1)}))
        elif inside and d > circle.radius_m + settings.geofence_margin_m:
            changes[f"in_{name}"] = False
            events.append(Event(f"left_{name}", "notice", fix.ts, {"distance_m": round(d, 1)}))


def _zones(state, fix, plan, px, py, changes, events) -> None:
    """Raise ``hazard_zone`` on entering a hazard polygon; clear it when out of all of them."""
    if not plan.zones:
        return
    inside = tuple(z.zone_id for z in plan.zones if z.contains_xy(px, py))
    entered = [z for z in plan.zones if z.zone_id in inside and z.zone_id not in state.in_zones]
    for zone in entered:
        events.append(Event("hazard_zone", "raise", fix.ts, {"zone_id": zone.zone_id, "zone": zone.name,
                                                             "lat": fix.lat, "lon": fix.lon}))
    if state.in_zones and not inside:
        events.append(Event("hazard_zone", "resolve", fix.ts, {}))
    changes["in_zones"] = inside


def _eta(state, fix, plan, settings, along_m, changes, events) -> None:
    """Estimate distance left and the ETA; raise or clear ``late`` against the appointment."""
    speed = fix.speed_mps
    if speed is None and state.last_ts is not None:
        dt = (fix.ts - state.last_ts).total_seconds()
        speed = haversine_m(state.last_lat, state.last_lon, fix.lat, fix.lon) / dt if dt > 0 else None
    if speed is not None:
        # A slow exponential average: a red light should not move the ETA by minutes.
        changes["speed_mps"] = speed if state.speed_mps is None else 0.9 * state.speed_mps + 0.1 * speed
    if not plan.route_active or along_m is None:
        return
    left_m = max(0.0, plan.route.length_m - along_m)
    recent = changes.get("speed_mps", state.speed_mps) or 0.0
    blended = max(1.0, 0.5 * recent + 0.5 * settings.expected_speed_mps)
    eta = fix.ts + timedelta(seconds=left_m / blended)
    changes.update(left_m=left_m, eta=eta)
    if plan.appointment_at is None:
        return
    over_s = (eta - plan.appointment_at).total_seconds()
    if over_s > settings.late_margin_s and not state.late_open:
        changes["late_open"] = True
        events.append(Event("late", "raise", fix.ts, {"eta": eta.isoformat(), "late_by_s": round(over_s)}))
    elif state.late_open and over_s < settings.late_margin_s - 120:
        changes["late_open"] = False
        events.append(Event("late", "resolve", fix.ts, {"eta": eta.isoformat()}))
