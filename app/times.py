"""Times as every wire format here shows them: ISO-8601 in UTC with a ``Z``."""

from __future__ import annotations

from datetime import datetime


def iso_z(value: datetime | None) -> str | None:
    """Return a UTC datetime as ISO-8601 with a ``Z``, as every wire format here shows times."""
    return value.isoformat().replace("+00:00", "Z") if value is not None else None
