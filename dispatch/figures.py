"""Pure trip figures: what happened on one trip, and how a period of trips went (no Flask, no I/O).

Definitions (the ones a coordinator is shown, so they are spelt out here):

- actual pickup: when the escort reported ``arrived_pickup`` (else ``on_board``); it is on
  time when no later than ``PICKUP_GRACE_S`` after the scheduled pickup.
- actual drop-off: when the escort reported ``arrived_dropoff`` (else ``completed``); it is
  on time when no later than the appointment (trips without one are not counted).
- driven distance and time off route are measured while the patient was on board (from
  ``on_board`` to the drop-off), where the planned route applies; without those times, over
  the whole track. A stretch off route runs from its first fix beyond the corridor to the
  first fix back inside it (or to the track's last fix).
- a stop is a run of fixes that stay within ``stop_radius_m`` of the run's first fix for at
  least ``stop_min_s``, timed from that first fix to the run's last fix; the whole track counts.
- time to acknowledge is from an alert being raised to a person acknowledging it; alerts
  cleared on their own without acknowledgement have none.
"""

from __future__ import annotations

import html
import math
import statistics
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone, tzinfo
from typing import Sequence

from tracking.fix import Fix
from tracking.geo import Route, haversine_m

PICKUP_GRACE_S = 600.0
DEFAULT_CORRIDOR_M = 75.0
DEFAULT_STOP_RADIUS_M = 30.0
DEFAULT_STOP_MIN_S = 120.0


@dataclass(frozen=True)
class Stretch:
    """A time span of the track, as fix indexes and times: off route, or stopped."""

    start_index: int
    end_index: int
    start_at: datetime
    end_at: datetime
    lat: float
    lon: float
    # Off route: the farthest from the route; stopped: 0.
    max_distance_m: float = 0.0

    @property
    def duration_s(self) -> float:
        """Return the stretch's length in seconds."""
        return (self.end_at - self.start_at).total_seconds()


@dataclass(frozen=True)
class AlertTimes:
    """One alert's kind and times (the figures need no more of it)."""

    kind: str
    raised_at: datetime
    acknowledged_at: datetime | None = None
    resolved_at: datetime | None = None

    @property
    def ack_s(self) -> float | None:
        """Return seconds from raised to acknowledged, or None if never acknowledged."""
        if self.acknowledged_at is None:
            return None
        return max(0.0, (self.acknowledged_at - self.raised_at).total_seconds())


@dataclass(frozen=True)
class Outcome:
    """A trip's times and alerts: all the period figures need of it."""

    scheduled_pickup_at: datetime
    appointment_at: datetime | None = None
    pickup_at: datetime | None = None
    dropoff_at: datetime | None = None
    alerts: tuple[AlertTimes, ...] = ()

    @property
    def pickup_late_s(self) -> float | None:
        """Return how late the pickup was (negative: early), or None without one."""
        if self.pickup_at is None:
            return None
        return (self.pickup_at - self.scheduled_pickup_at).total_seconds()

    @property
    def dropoff_late_s(self) -> float | None:
        """Return how late the drop-off was against the appointment, or None."""
        if self.dropoff_at is None or self.appointment_at is None:
            return None
        return (self.dropoff_at - self.appointment_at).total_seconds()

    @property
    def pickup_on_time(self) -> bool | None:
        """Say whether the pickup was within the grace, or None without one."""
        late = self.pickup_late_s
        return None if late is None else late <= PICKUP_GRACE_S

    @property
    def arrival_on_time(self) -> bool | None:
        """Say whether the drop-off was by the appointment, or None when not measurable."""
        late = self.dropoff_late_s
        return None if late is None else late <= 0


@dataclass(frozen=True)
class TripFigures:
    """The figures of one trip."""

    outcome: Outcome
    planned_distance_m: float
    driven_distance_m: float
    off_route: tuple[Stretch, ...]
    stops: tuple[Stretch, ...]
    fix_count: int

    @property
    def off_route_s(self) -> float:
        """Return the total time off route in seconds."""
        return sum(s.duration_s for s in self.off_route)

    @property
    def stopped_s(self) -> float:
        """Return the total time stopped in seconds."""
        return sum(s.duration_s for s in self.stops)

    @property
    def ack_times_s(self) -> list[float]:
        """Return the times to acknowledge of the acknowledged alerts."""
        return [a.ack_s for a in self.outcome.alerts if a.ack_s is not None]

    def as_dict(self) -> dict:
        """Return the figures as JSON-ready plain values (times ISO-8601 with Z)."""
        o = self.outcome
        acks = self.ack_times_s
        return {
            "scheduled_pickup_at": _iso(o.scheduled_pickup_at), "pickup_at": _iso(o.pickup_at),
            "pickup_late_s": _round(o.pickup_late_s), "pickup_on_time": o.pickup_on_time,
            "appointment_at": _iso(o.appointment_at), "dropoff_at": _iso(o.dropoff_at),
            "dropoff_late_s": _round(o.dropoff_late_s), "arrival_on_time": o.arrival_on_time,
            "planned_distance_m": _round(self.planned_distance_m), "driven_distance_m": _round(self.driven_distance_m),
            "off_route_s": _round(self.off_route_s), "off_route_count": len(self.off_route),
            "stop_count": len(self.stops), "stopped_s": _round(self.stopped_s),
            "longest_stop_s": _round(max((s.duration_s for s in self.stops), default=None)),
            "alert_count": len(o.alerts), "acknowledged_count": len(acks),
            "mean_ack_s": _round(statistics.fmean(acks)) if acks else None,
            "max_ack_s": _round(max(acks)) if acks else None, "fix_count": self.fix_count,
        }


@dataclass(frozen=True)
class PeriodFigures:
    """How a set of trips went."""

    trip_count: int
    pickups_measured: int
    pickups_on_time: int
    arrivals_measured: int
    arrivals_on_time: int
    alert_count: int
    ack_times_s: tuple[float, ...] = field(default=())

    @property
    def on_time_pickup_rate(self) -> float | None:
        """Return the share of measured pickups that were on time (0..1), or None."""
        return self.pickups_on_time / self.pickups_measured if self.pickups_measured else None

    @property
    def on_time_arrival_rate(self) -> float | None:
        """Return the share of measured arrivals that were on time (0..1), or None."""
        return self.arrivals_on_time / self.arrivals_measured if self.arrivals_measured else None

    @property
    def alerts_per_100_trips(self) -> float | None:
        """Return alerts per hundred trips, or None without trips."""
        return 100.0 * self.alert_count / self.trip_count if self.trip_count else None

    @property
    def median_ack_s(self) -> float | None:
        """Return the median time to acknowledge, or None when nothing was acknowledged."""
        return statistics.median(self.ack_times_s) if self.ack_times_s else None

    def as_dict(self) -> dict:
        """Return the figures as JSON-ready plain values."""
        return {
            "trip_count": self.trip_count, "pickups_measured": self.pickups_measured,
            "pickups_on_time": self.pickups_on_time, "on_time_pickup_rate": _round(self.on_time_pickup_rate, 4),
            "arrivals_measured": self.arrivals_measured, "arrivals_on_time": self.arrivals_on_time,
            "on_time_arrival_rate": _round(self.on_time_arrival_rate, 4), "alert_count": self.alert_count,
            "alerts_per_100_trips": _round(self.alerts_per_100_trips, 2), "median_ack_s": _round(self.median_ack_s),
        }


def _iso(value: datetime | None) -> str | None:
    """Return an aware datetime as ISO-8601 with a Z."""
    return value.isoformat().replace("+00:00", "Z") if value is not None else None


def _round(value: float | None, digits: int = 1) -> float | None:
    """Round for the wire, keeping None."""
    return None if value is None else round(value, digits)


def driven_distance_m(track: Sequence[Fix]) -> float:
    """Return the sum of great-circle steps between consecutive fixes, in metres."""
    return sum(haversine_m(a.lat, a.lon, b.lat, b.lon) for a, b in zip(track, track[1:]))


def planned_route(route: Sequence[Sequence[float]], pickup: tuple[float, float],
                  dropoff: tuple[float, float]) -> Route:
    """Return the planned route from (lat, lon) points; none planned is the straight line."""
    points = [(float(p[0]), float(p[1])) for p in route] if len(route) >= 2 else [pickup, dropoff]
    return Route(points)


def off_route_stretches(track: Sequence[Fix], route: Route, corridor_m: float) -> list[Stretch]:
    """Return the stretches of the track farther than ``corridor_m`` from the route's segments."""
    stretches: list[Stretch] = []
    start = None
    worst = 0.0
    along = None
    for i, fix in enumerate(track):
        found = route.locate(fix.lat, fix.lon, near_m=along)
        along = found.along_m
        off = found.distance_m > corridor_m
        if off and start is None:
            start, worst = i, found.distance_m
        elif off:
            worst = max(worst, found.distance_m)
        elif start is not None:
            stretches.append(_stretch(track, start, i, worst))
            start = None
    if start is not None:
        stretches.append(_stretch(track, start, len(track) - 1, worst))
    return stretches


def _stretch(track: Sequence[Fix], start: int, end: int, worst_m: float) -> Stretch:
    """Build a stretch from fix ``start`` to fix ``end``, placed at its first fix."""
    return Stretch(start, end, track[start].ts, track[end].ts, track[start].lat, track[start].lon, round(worst_m, 1))


def find_stops(track: Sequence[Fix], radius_m: float, min_s: float) -> list[Stretch]:
    """Return runs of fixes within ``radius_m`` of the run's first fix lasting ``min_s`` or more."""
    stops: list[Stretch] = []
    start = 0
    for i in range(1, len(track) + 1):
        left = i == len(track) or haversine_m(track[start].lat, track[start].lon, track[i].lat, track[i].lon) > radius_m
        if not left:
            continue
        last = i - 1
        if (track[last].ts - track[start].ts).total_seconds() >= min_s:
            stops.append(Stretch(start, last, track[start].ts, track[last].ts, track[start].lat, track[start].lon))
        start = i
    return stops


def within(track: Sequence[Fix], start_at: datetime | None, end_at: datetime | None) -> list[Fix]:
    """Return the fixes with ``start_at <= ts <= end_at`` (an open end is unbounded)."""
    return [f for f in track if (start_at is None or f.ts >= start_at) and (end_at is None or f.ts <= end_at)]


def trip_figures(*, outcome: Outcome, track: Sequence[Fix], route: Route, on_board_at: datetime | None,
                 corridor_m: float = DEFAULT_CORRIDOR_M, stop_radius_m: float = DEFAULT_STOP_RADIUS_M,
                 stop_min_s: float = DEFAULT_STOP_MIN_S) -> TripFigures:
    """Compute one trip's figures from its times, track (sorted by time) and planned route."""
    if on_board_at is not None:
        offset = next((i for i, f in enumerate(track) if f.ts >= on_board_at), len(track))
        leg = within(track[offset:], on_board_at, outcome.dropoff_at)
    else:
        leg, offset = list(track), 0
    off = [Stretch(s.start_index + offset, s.end_index + offset, s.start_at, s.end_at, s.lat, s.lon, s.max_distance_m)
           for s in off_route_stretches(leg, route, corridor_m)]
    return TripFigures(outcome=outcome, planned_distance_m=route.length_m, driven_distance_m=driven_distance_m(leg),
                       off_route=tuple(off), stops=tuple(find_stops(track, stop_radius_m, stop_min_s)),
                       fix_count=len(track))


def period_figures(outcomes: Sequence[Outcome]) -> PeriodFigures:
    """Sum up a period: on-time pickups and arrivals, alerts, times to acknowledge."""
    pickups = [o.pickup_on_time for o in outcomes if o.pickup_on_time is not None]
    arrivals = [o.arrival_on_time for o in outcomes if o.arrival_on_time is not None]
    acks = tuple(a.ack_s for o in outcomes for a in o.alerts if a.ack_s is not None)
    return PeriodFigures(trip_count=len(outcomes), pickups_measured=len(pickups), pickups_on_time=sum(pickups),
                         arrivals_measured=len(arrivals), arrivals_on_time=sum(arrivals),
                         alert_count=sum(len(o.alerts) for o in outcomes), ack_times_s=acks)


def by_day(outcomes: Sequence[Outcome], *, start: date | None = None, end: date | None = None,
           tz: tzinfo = timezone.utc, max_buckets: int = 62) -> list[tuple[str, PeriodFigures]]:
    """Group outcomes by the day (in ``tz``) of the scheduled pickup, every day from ``start`` to ``end``
    (inclusive; default the first and last trip's) present, empty or not; by week past ``max_buckets`` days."""
    if not outcomes and (start is None or end is None):
        return []
    local = [(o.scheduled_pickup_at.astimezone(tz).date(), o) for o in outcomes]
    first = start or min(d for d, _o in local)
    last = end or max(d for d, _o in local)
    step = 1 if (last - first).days < max_buckets else 7
    groups: dict[date, list[Outcome]] = {}
    day = first
    while day <= last:
        groups[day] = []
        day += timedelta(days=step)
    for day, o in local:
        groups.setdefault(day - timedelta(days=(day - first).days % step), []).append(o)
    return [(key.isoformat(), period_figures(groups[key])) for key in sorted(groups)]


def chart_svg(series: Sequence[tuple[str, PeriodFigures]], *, width: int = 640, height: int = 220) -> str:
    """Draw on-time pickup and arrival rates (lines, %) and alerts per 100 trips (bars) as inline SVG."""
    left, right, top, bottom = 40, 40, 16, 34
    plot_w, plot_h = width - left - right, height - top - bottom
    n = len(series)
    parts = [f'<svg class="period-chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
             f'role="img" aria-label="On-time rates and alerts per 100 trips by day">']
    max_alerts = max([f.alerts_per_100_trips or 0 for _, f in series] + [10.0])
    top_alerts = math.ceil(max_alerts / 10) * 10
    for pct in (0, 50, 100):
        y = top + plot_h * (1 - pct / 100)
        parts.append(f'<line class="grid" x1="{left}" x2="{left + plot_w}" y1="{y:.1f}" y2="{y:.1f}"/>'
                     f'<text class="axis" x="{left - 4}" y="{y + 4:.1f}" text-anchor="end">{pct}%</text>')
    parts.append(f'<text class="axis alerts-axis" x="{left + plot_w + 4}" y="{top + 4}">{top_alerts}</text>'
                 f'<text class="axis alerts-axis" x="{left + plot_w + 4}" y="{top + plot_h + 4}">0</text>')
    if n == 0:
        parts.append(f'<text class="empty" x="{width / 2}" y="{height / 2}" text-anchor="middle">No trips</text></svg>')
        return "".join(parts)
    slot = plot_w / n
    lines: dict[str, list[str]] = {"pickup": [], "arrival": []}
    for i, (label, f) in enumerate(series):
        cx = left + slot * (i + 0.5)
        apt = f.alerts_per_100_trips or 0.0
        bar_h = plot_h * apt / top_alerts
        title = html.escape(f"{label}: {f.trip_count} trips, pickups on time {_pct(f.on_time_pickup_rate)}, "
                            f"arrivals on time {_pct(f.on_time_arrival_rate)}, {apt:.1f} alerts per 100 trips")
        parts.append(f'<rect class="alerts-bar" x="{cx - slot * 0.3:.1f}" y="{top + plot_h - bar_h:.1f}" '
                     f'width="{slot * 0.6:.1f}" height="{bar_h:.1f}"><title>{title}</title></rect>')
        for name, rate in (("pickup", f.on_time_pickup_rate), ("arrival", f.on_time_arrival_rate)):
            if rate is not None:
                lines[name].append(f"{cx:.1f},{top + plot_h * (1 - rate):.1f}")
        if n <= 16 or i % math.ceil(n / 16) == 0:
            parts.append(f'<text class="axis" x="{cx:.1f}" y="{height - bottom + 14}" text-anchor="middle">'
                         f'{html.escape(label[5:])}</text>')
    for name, points in lines.items():
        if points:
            parts.append(f'<polyline class="rate-line {name}" points="{" ".join(points)}"/>')
            parts.extend(f'<circle class="rate-dot {name}" cx="{p.split(",")[0]}" cy="{p.split(",")[1]}" r="3"/>'
                         for p in points)
    parts.append(f'<g class="legend" transform="translate({left},{height - 6})">'
                 '<text class="pickup">● on-time pickups</text>'
                 '<text class="arrival" x="150">● on-time arrivals</text>'
                 '<text class="alerts" x="300">▮ alerts per 100 trips (right scale)</text></g></svg>')
    return "".join(parts)


def _pct(rate: float | None) -> str:
    """Format a 0..1 rate as a whole percentage, or an en dash."""
    return "–" if rate is None else f"{rate * 100:.0f}%"
