"""Trip settings: the safety timers have one home, and one builder makes the detection settings."""

from __future__ import annotations

import logging

import pytest

from dispatch.settings import SAFETY_DEFAULTS, detection_settings, validate_settings
from tracking.detectors import DetectionSettings


def test_every_safety_timer_is_taken_out_before_detection():
    timers = {name: 600.0 for name in SAFETY_DEFAULTS}  # medication_grace_s too
    built = detection_settings({**timers, "corridor_m": 120})
    assert built == DetectionSettings.from_overrides({"corridor_m": 120})


def test_a_request_is_told_what_is_wrong():
    with pytest.raises(ValueError, match="unknown setting 'corridor'"):
        validate_settings({"corridor": 50})
    with pytest.raises(ValueError, match="settings.checkin_grace_s must be a number of seconds"):
        validate_settings({"checkin_grace_s": -1})
    assert validate_settings({"medication_grace_s": 60, "stop_after_s": 240}) == {"medication_grace_s": 60.0,
                                                                                "stop_after_s": 240.0}


def test_stored_settings_that_no_longer_validate_detect_with_the_defaults(caplog):
    """A trip stays watched whatever its stored settings became; the request path stays strict."""
    with caplog.at_level(logging.WARNING, logger="dispatch.settings"):
        assert detection_settings({"corridor_m": "wide"}) == DetectionSettings()
    assert "do not validate" in caplog.text
    with pytest.raises(ValueError, match="corridor_m must be a number"):
        detection_settings({"corridor_m": "wide"}, strict=True)
    assert detection_settings(None) == DetectionSettings()
