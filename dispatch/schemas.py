"""Request bodies of the trip and alert endpoints, validated with pydantic."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
)

from app.db import MAX_ROW_ID


def in_utc(value: datetime) -> datetime:
    """Return an aware time in UTC; ValueError when UTC cannot hold it (0001-01-01T00:00+01:00)."""
    try:
        return value.astimezone(timezone.utc)
    except OverflowError:
        raise ValueError("is out of range once in UTC") from None


# An ISO-8601 time with a zone, held in UTC: what every time column stores.
UtcDatetime = Annotated[AwareDatetime, AfterValidator(in_utc)]


class Place(BaseModel):
    """A geofence centre with its radius in metres."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    radius_m: float | None = Field(default=None, gt=5, le=5000)


class TripCreate(BaseModel):
    """``POST /api/v1/trips``."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    patient_id: int = Field(gt=0, le=MAX_ROW_ID)
    escort: str | None = Field(default=None, max_length=80)
    device_id: int | None = Field(default=None, gt=0, le=MAX_ROW_ID)
    pickup: Place
    dropoff: Place
    route: dict[str, Any] | None = None
    allowed_stops: list[Place] = Field(default_factory=list, max_length=50)
    scheduled_pickup_at: UtcDatetime
    appointment_at: UtcDatetime | None = None
    settings: dict[str, Any] = Field(default_factory=dict)


class StatusChange(BaseModel):
    """``POST /api/v1/trips/<id>/status``."""

    model_config = ConfigDict(extra="forbid")

    status: str = Field(max_length=20)
    pin: str | None = Field(default=None, max_length=8)


class AlertResolve(BaseModel):
    """``POST /api/v1/alerts/<id>/resolve``."""

    model_config = ConfigDict(extra="forbid")

    category: str = Field(max_length=20)
    note: str | None = Field(default=None, max_length=2000)

    @field_validator("note")
    @classmethod
    def _strip(cls, value: str | None) -> str | None:
        """Store no empty notes."""
        return value.strip() or None if value is not None else None


class ZoneCreate(BaseModel):
    """``POST /api/v1/hazard-zones``."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=120)
    reason: str | None = Field(default=None, max_length=500)
    polygon: dict[str, Any]
    expires_at: UtcDatetime | None = None


class FlagPoint(BaseModel):
    """A flagged address: its position and how far the warning reaches, in metres."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    radius_m: float = Field(default=30.0, gt=0, le=5000)


class FlagCreate(BaseModel):
    """``POST /api/v1/flagged-places``: a point or a GeoJSON polygon, a reason and an expiry."""

    model_config = ConfigDict(extra="forbid")

    label: str = Field(min_length=1, max_length=200)
    category: Literal["aggressive_resident", "unsafe_parking", "no_lift", "dog", "access", "other"]
    reason: str = Field(min_length=1, max_length=1000)
    point: FlagPoint | None = None
    polygon: dict[str, Any] | None = None
    expires_at: UtcDatetime
