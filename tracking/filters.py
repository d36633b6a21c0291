"""Pure noise filter: which fixes detection must not act on, and why.

A skipped fix is still stored by the pipeline (and so still counts for signal freshness,
which the scheduler judges from stored fixes); only the detectors never see it.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Protocol

from tracking.fix import Fix
from tracking.geo import haversine_m

# Two honest fixes may each be off by this much, so a jump shorter than it is never "impossible".
JUMP_SLACK_M = 25.0

REASONS = ("invalid", "zero_position", "duplicate", "out_of_order", "poor_accuracy", "impossible_speed")


class NoiseSettings(Protocol):
    """The two thresholds the filter reads (``DetectionSettings`` has them)."""

    max_speed_mps: float
    max_accuracy_m: float


def noise_reason(last: Fix | None, fix: Fix, settings: NoiseSettings) -> str | None:
    """Return why detection should skip ``fix`` after ``last`` (the last fix it used), or None.

    ``invalid``: coordinates out of range or not finite, or a naive timestamp.
    ``zero_position``: (0, 0), what a receiver without a fix reports.
    ``duplicate`` / ``out_of_order``: not newer than ``last`` (a repeat, or a flushed backlog):
    stored, never acted on. ``poor_accuracy``: reported accuracy worse than ``max_accuracy_m``
    cannot tell leaving the corridor from staying in it, so it counts for neither.
    ``impossible_speed``: farther from ``last`` than ``max_speed_mps`` allows (a multipath jump).
    """
    if not _valid(fix):
        return "invalid"
    if fix.lat == 0.0 and fix.lon == 0.0:
        return "zero_position"
    if last is not None:
        if fix.ts == last.ts:
            return "duplicate"
        if fix.ts < last.ts:
            return "out_of_order"
    if fix.accuracy_m is not None and fix.accuracy_m > settings.max_accuracy_m:
        return "poor_accuracy"
    if last is not None and not plausible_move(last, fix, settings.max_speed_mps):
        return "impossible_speed"
    return None


def plausible_move(a: Fix, b: Fix, max_speed_mps: float) -> bool:
    """Say whether going from fix ``a`` to fix ``b`` needs no more than ``max_speed_mps``."""
    dt_s = abs((b.ts - a.ts).total_seconds())
    return haversine_m(a.lat, a.lon, b.lat, b.lon) <= max_speed_mps * dt_s + JUMP_SLACK_M


def _valid(fix: Fix) -> bool:
    """Say whether a fix has usable coordinates, an aware timestamp and sane optional numbers."""
    if not (isinstance(fix.lat, (int, float)) and isinstance(fix.lon, (int, float))):
        return False
    if not (-90.0 <= fix.lat <= 90.0 and -180.0 <= fix.lon <= 180.0):  # also false for NaN
        return False
    if not isinstance(fix.ts, datetime) or fix.ts.utcoffset() is None:
        return False
    for value in (fix.accuracy_m, fix.speed_mps):
        if value is not None and not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
            return False
    return True
