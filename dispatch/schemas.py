"""Request bodies of the trip and alert endpoints, validated with pydantic."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator


class Place(BaseModel):
    """A geofence centre with its radius in metres."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    radius_m: float | None = Field(default=None, gt=5, le=5000)


class TripCreate(BaseModel):
    """``POST /api/v1/trips``."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    patient_id: int = Field(gt=0)
    escort: str | None = Field(default=None, max_length=80)
    device_id: int | None = Field(default=None, gt=0)
    pickup: Place
    dropoff: Place
    route: dict[str, Any] | None = None
    allowed_stops: list[Place] = Field(default_factory=list, max_length=50)
    scheduled_pickup_at: AwareDatetime
    appointment_at: AwareDatetime | None = None
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


def parse_when(value: datetime) -> datetime:
    """Return an aware datetime in UTC."""
    from datetime import timezone

    return value.astimezone(timezone.utc)


class ZoneCreate(BaseModel):
    """``POST /api/v1/hazard-zones``."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=120)
    reason: str | None = Field(default=None, max_length=500)
    polygon: dict[str, Any]
    expires_at: AwareDatetime | None = None
