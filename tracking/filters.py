"""Pure noise filter: which fixes detection must not act on, and why."""

from __future__ import annotations

import math
from datetime import datetime

from tracking.fix import Fix
from tracking.geo import haversine_m

# A vehicle is never faster than this between two fixes: a larger implied speed is a
# multipath jump or a cold-start fix, not a drive.
DEFAULT_MAX_SPEED_MPS = 70.0
# After this many jumps in a row, the jumps are the truth (the last kept fix was the bad one).
JUMP_STREAK_RESET = 3


def noise_reason(last_lat: float | None, last_lon: float | None, last_ts: datetime | None, fix: Fix, *,
                 max_speed_mps: float = DEFAULT_MAX_SPEED_MPS, max_accuracy_m: float = 50.0,
                 jump_streak: int = 0) -> str | None:
    """Return why detection should skip this fix, or None to use it.

    ``last_*`` describe the last fix detection used. Reasons: ``invalid`` (not finite or out
    of range), ``zero_position`` (0, 0: a receiver with no fix), ``out_of_order`` (not newer
    than the last used: stored, never acted on), ``impossible_speed`` (a jump), and
    ``poor_accuracy`` (its reported accuracy is too poor to judge leaving or rejoining).
    """
    if not (math.isfinite(fix.lat) and math.isfinite(fix.lon)) or abs(fix.lat) > 90 or abs(fix.lon) > 180:
        return "invalid"
    if fix.lat == 0.0 and fix.lon == 0.0:
        return "zero_position"
    if last_ts is not None and fix.ts <= last_ts:
        return "out_of_order"
    if fix.accuracy_m is not None and fix.accuracy_m > max_accuracy_m:
        return "poor_accuracy"
    if last_lat is not None and last_ts is not None and jump_streak < JUMP_STREAK_RESET:
        dt_s = (fix.ts - last_ts).total_seconds()
        if haversine_m(last_lat, last_lon, fix.lat, fix.lon) > max_speed_mps * dt_s + 25.0:
            return "impossible_speed"
    return None
