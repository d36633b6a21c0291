"""Pure medication schedules: when the next doses fall, in UTC, from times of day or every N hours."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo


# The longest window doses are listed for: a trip lasts at most a day or so, the patient sheet
# looks 48 hours ahead. A longer window is a caller's bug, refused rather than expanded
# (a year at one dose every half hour is 17,520 doses per medication).
MAX_WINDOW = timedelta(days=3)


@dataclass(frozen=True)
class Dose:
    """One scheduled dose of one medication."""

    name: str
    dose: str
    at: datetime  # UTC

    def key(self) -> str:
        """Return a stable identity for de-duplicating reminders."""
        return f"{self.name}|{self.at.isoformat()}"


def doses_between(medications: list[dict], start: datetime, end: datetime, tz: str = "UTC") -> list[Dose]:
    """Return every dose due in [start, end), oldest first.

    ``times`` are local times of day in ``tz`` (the service's time zone); ``every_hours``
    counts from ``last_dose_at`` (UTC ISO-8601), so an interval without a last dose has no
    known next dose and is skipped.
    """
    if end - start > MAX_WINDOW:
        raise ValueError(f"doses are listed for at most {MAX_WINDOW.days} days at a time")
    zone = ZoneInfo(tz)
    doses = []
    for med in medications:
        name, amount = med.get("name", "?"), med.get("dose", "")
        for at in _times_of_day(med.get("times") or [], start, end, zone):
            doses.append(Dose(name, amount, at))
        every, last = med.get("every_hours"), med.get("last_dose_at")
        if every and last:
            at = datetime.fromisoformat(last).astimezone(timezone.utc)
            step = timedelta(hours=float(every))
            if at < start:
                at += step * max(0, int((start - at) / step))
            while at < end:
                if at >= start:
                    doses.append(Dose(name, amount, at))
                at += step
    return sorted(doses, key=lambda d: d.at)


def _times_of_day(times: list[str], start: datetime, end: datetime, zone: ZoneInfo) -> list[datetime]:
    """Return the UTC instants of local times of day that fall in [start, end)."""
    out = []
    day = start.astimezone(zone).date() - timedelta(days=1)
    last_day = end.astimezone(zone).date()
    while day <= last_day:
        for hhmm in times:
            hour, minute = (int(p) for p in hhmm.split(":"))
            at = datetime.combine(day, time(hour, minute), tzinfo=zone).astimezone(timezone.utc)
            if start <= at < end:
                out.append(at)
        day += timedelta(days=1)
    return out
