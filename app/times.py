"""Times as people and wire formats read them: ISO-8601 UTC with a ``Z`` on the wire, the service's
local zone (``ESCORT_TIMEZONE``) to the second on pages, and lateness in words.

``app/static/js/times.js`` is the browser's twin of ``local_time`` and ``lateness_words``: keep the two in step.
"""

from __future__ import annotations

from datetime import datetime, timezone
from zoneinfo import ZoneInfo


def iso_z(value: datetime | None) -> str | None:
    """Return a UTC datetime as ISO-8601 with a ``Z``, as every wire format here shows times."""
    return value.isoformat().replace("+00:00", "Z") if value is not None else None


def parse_iso(value: datetime | str | None) -> datetime | None:
    """Return a datetime from a datetime or an ISO-8601 string (UTC when it names no zone), or None."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value


def local_time(value: datetime | str | None, tz: str, *, date: bool = True) -> str:
    """Return a time in the zone ``tz`` to the second with the zone's name, e.g. ``2026-12-02 09:14:05 CET``.

    None (or an unreadable string) gives "–".
    """
    when = parse_iso(value)
    if when is None:
        return "–"
    local = when.astimezone(ZoneInfo(tz))
    return local.strftime(("%Y-%m-%d " if date else "") + "%H:%M:%S ") + (local.tzname() or tz)


def duration_words(seconds: float | None) -> str:
    """Return a length of time in words, ``4 min 22 s`` or ``35 s`` (the sign is ignored); None gives "–"."""
    if seconds is None:
        return "–"
    whole = round(abs(seconds))
    minutes, rest = divmod(whole, 60)
    return f"{minutes} min {rest:02d} s" if minutes else f"{rest} s"


def lateness_words(late_s: float | None) -> str:
    """Return how late something was against its plan: ``4 min 22 s late``, ``35 s early`` or ``on time``."""
    if late_s is None:
        return "–"
    if round(late_s) == 0:
        return "on time"
    return duration_words(late_s) + (" late" if late_s > 0 else " early")
