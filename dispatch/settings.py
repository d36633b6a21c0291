"""Per-trip settings: detection thresholds and safety timers, with documented defaults."""

from __future__ import annotations

import logging
from typing import Any

from tracking.detectors import DetectionSettings

log = logging.getLogger(__name__)

# Timers the scheduler runs (issue: escort safety); defaults in seconds. The one list of
# them: the detectors know nothing of these keys, so they are taken out before detection.
SAFETY_DEFAULTS: dict[str, float] = {
    "checkin_interval_s": 1800.0,
    "checkin_grace_s": 300.0,
    "signal_lost_after_s": 180.0,
    "escalate_after_s": 120.0,
    "medication_grace_s": 900.0,
}


def validate_settings(overrides: dict[str, Any]) -> dict[str, Any]:
    """Check a trip's setting overrides; return them cleaned, or raise ValueError naming the key."""
    if not isinstance(overrides, dict):
        raise ValueError("settings must be a JSON object")
    safety = {}
    for key in SAFETY_DEFAULTS.keys() & overrides.keys():
        value = overrides[key]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 7 * 86400:
            raise ValueError(f"settings.{key} must be a number of seconds between 0 and 604800")
        safety[key] = float(value)
    detection = detection_settings(overrides, strict=True)
    defaults = DetectionSettings().to_dict()
    changed = {k: v for k, v in detection.to_dict().items() if k in overrides and v != defaults.get(k)}
    return {**changed, **safety}


def detection_overrides(settings: dict[str, Any]) -> dict[str, Any]:
    """Return a trip's settings without the safety timers, for the detectors."""
    return {k: v for k, v in settings.items() if k not in SAFETY_DEFAULTS}


def detection_settings(settings: dict[str, Any] | None, *, strict: bool = False) -> DetectionSettings:
    """Return a trip's detection settings: the defaults with its overrides (the one builder).

    ``strict``: raise ValueError naming a bad key or value (what a request is told);
    otherwise stored settings that no longer validate give the defaults, logged, so a trip
    is still watched.
    """
    try:
        return DetectionSettings.from_overrides(detection_overrides(settings or {}))
    except ValueError:
        if strict:
            raise
        log.warning("stored trip settings do not validate; detecting with the defaults", exc_info=True)
        return DetectionSettings()
