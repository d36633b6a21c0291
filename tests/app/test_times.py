"""Times in words: lateness, durations and the service's local zone (app/times.py)."""

from datetime import datetime, timezone

import pytest

from app.times import duration_words, iso_z, lateness_words, local_time


@pytest.mark.parametrize(("seconds", "words"), [
    (262, "4 min 22 s late"), (-262, "4 min 22 s early"), (35, "35 s late"), (-35.4, "35 s early"),
    (0, "on time"), (0.4, "on time"), (60, "1 min 00 s late"), (None, "–"),
])
def test_lateness_says_late_or_early_once(seconds, words):
    assert lateness_words(seconds) == words


def test_durations_ignore_the_sign():
    assert duration_words(-262) == "4 min 22 s"
    assert duration_words(5) == "5 s"
    assert duration_words(None) == "–"


def test_local_time_is_in_the_given_zone_to_the_second():
    at = datetime(2026, 7, 1, 8, 5, 9, 123456, tzinfo=timezone.utc)
    assert local_time(at, "Europe/Berlin") == "2026-07-01 10:05:09 CEST"
    assert local_time(iso_z(at), "UTC") == "2026-07-01 08:05:09 UTC"
    assert local_time("2026-12-01T23:30:00Z", "Europe/London", date=False) == "23:30:00 GMT"


def test_local_time_of_nothing_is_a_dash():
    assert local_time(None, "UTC") == "–"
    assert local_time("not a time", "UTC") == "–"
