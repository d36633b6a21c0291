"""The one value a position report becomes, whatever protocol carried it (pure, no I/O)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class Fix:
    """One GPS position report: ``lat``/``lon`` in WGS84 degrees, ``ts`` a timezone-aware UTC datetime."""

    lat: float
    lon: float
    ts: datetime
    seq: int | None = None
    accuracy_m: float | None = None
    speed_mps: float | None = None
    heading_deg: float | None = None
    altitude_m: float | None = None
    battery_pct: float | None = None
    # The phone says the position came from a mock-location provider (a test app, or a spoof).
    mock: bool = False
    # The device says it is charging (the Battery Status API; None: it does not say). Not stored:
    # it only keeps a low battery on a charger from raising an alert.
    charging: bool | None = None
