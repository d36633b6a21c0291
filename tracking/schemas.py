"""The fix payload devices send over /device and /api/v1/fixes, validated with pydantic."""

from __future__ import annotations

import math
from datetime import datetime, timezone
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    ValidationError,
    field_validator,
)

from tracking.fix import Fix

MAX_BATCH = 1000


def batch_too_large(count: int) -> str:
    """Say that a batch of ``count`` fixes is refused whole and must be split."""
    return f"a batch holds at most {MAX_BATCH} fixes (got {count}): split it and send the parts; nothing was stored"

OptionalFloat = Annotated[float | None, Field(default=None, allow_inf_nan=False)]


def parse_timestamp(value: Any) -> datetime:
    """Read epoch seconds or an ISO-8601 time with a zone; ValueError otherwise."""
    if isinstance(value, bool):
        raise ValueError("must be ISO-8601 or epoch seconds")
    if isinstance(value, (int, float)):
        if not math.isfinite(value) or not 0 <= value < 1e11:
            raise ValueError("epoch seconds out of range")
        return datetime.fromtimestamp(value, timezone.utc)
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise ValueError("must be ISO-8601 or epoch seconds") from None
        if parsed.tzinfo is None:
            raise ValueError("needs a timezone (use Z for UTC)")
        try:
            return parsed.astimezone(timezone.utc)
        except OverflowError:  # 0001-01-01T00:00:00+01:00 is before the first UTC datetime
            raise ValueError("is out of range once in UTC") from None
    raise ValueError("must be ISO-8601 or epoch seconds")


class FixIn(BaseModel):
    """One fix as a device sends it: ``ts`` is ISO-8601 UTC or epoch seconds."""

    model_config = ConfigDict(extra="ignore", allow_inf_nan=False)

    seq: StrictInt = Field(ge=0, le=2**62)
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    ts: datetime
    accuracy_m: OptionalFloat = Field(default=None, ge=0, le=100_000)
    speed_mps: OptionalFloat = Field(default=None, ge=0, le=1000)
    heading_deg: OptionalFloat = Field(default=None, ge=0, le=360)
    altitude_m: OptionalFloat = Field(default=None, ge=-1000, le=100_000)
    battery_pct: OptionalFloat = Field(default=None, ge=0, le=100)
    mock: StrictBool = False  # Android's Location.isMock(): a mock-location provider made it
    # The Battery Status API's ``charging``: a low battery on a charger is no alert. Anything but
    # true or false reads as "not said": an odd flag never costs the position it came with.
    charging: bool | None = None

    @field_validator("lat", "lon", mode="before")
    @classmethod
    def _number(cls, value: Any) -> Any:
        """Refuse booleans and strings: a coordinate is a JSON number."""
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError("must be a number")
        return value

    @field_validator("charging", mode="before")
    @classmethod
    def _charging(cls, value: Any) -> Any:
        """Keep a JSON true or false; anything else is not said."""
        return value if isinstance(value, bool) else None

    @field_validator("ts", mode="before")
    @classmethod
    def _timestamp(cls, value: Any) -> Any:
        """Accept epoch seconds or ISO-8601; refuse naive times and booleans."""
        return parse_timestamp(value)

    def to_fix(self) -> Fix:
        """Return the pure Fix value, ``ts`` in UTC."""
        return Fix(
            lat=self.lat, lon=self.lon, ts=self.ts.astimezone(timezone.utc), seq=self.seq,
            accuracy_m=self.accuracy_m, speed_mps=self.speed_mps, heading_deg=self.heading_deg,
            altitude_m=self.altitude_m, battery_pct=self.battery_pct, mock=self.mock, charging=self.charging,
        )


def describe_error(exc: ValidationError) -> str:
    """Turn pydantic's errors into one short line naming each field."""
    parts = []
    for err in exc.errors(include_url=False, include_input=False)[:3]:
        where = ".".join(str(p) for p in err["loc"]) or "fix"
        msg = err["msg"].removeprefix("Value error, ")
        parts.append(f"{where}: {msg}")
    return "; ".join(parts)


def raw_seq(raw: Any) -> int | None:
    """Return the seq of a raw payload if it is a usable integer, for error acks."""
    if isinstance(raw, dict) and isinstance(raw.get("seq"), int) and not isinstance(raw.get("seq"), bool):
        return raw["seq"]
    return None


def parse_fix(raw: Any) -> Fix:
    """Validate one raw payload into a Fix; raise ValueError with a clear message."""
    if not isinstance(raw, dict):
        raise ValueError("a fix must be a JSON object")
    try:
        return FixIn.model_validate(raw).to_fix()
    except ValidationError as exc:
        raise ValueError(describe_error(exc)) from None


def parse_panic(data: dict, *, now: datetime) -> tuple[datetime, float | None, float | None]:
    """Read a panic payload leniently: a panic is never refused for a bad field.

    Whatever cannot be read is dropped: the time becomes ``now`` and the position the
    device's last known one.
    """
    at = now
    raw_ts = data.get("ts")
    if raw_ts is not None:
        try:
            at = parse_timestamp(raw_ts).astimezone(timezone.utc)
        except ValueError:
            at = now
        if at > now:
            at = now
    lat, lon = data.get("lat"), data.get("lon")
    valid = all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in (lat, lon))
    if not valid or not (-90 <= lat <= 90 and -180 <= lon <= 180):
        return at, None, None
    return at, float(lat), float(lon)
