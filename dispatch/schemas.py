"""Request bodies of the trip and alert endpoints, validated with pydantic."""

from __future__ import annotations

from datetime import date, datetime, timezone
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
from places.schemas import Located


def in_utc(value: datetime) -> datetime:
    """Return an aware time in UTC; ValueError when UTC cannot hold it (0001-01-01T00:00+01:00)."""
    try:
        return value.astimezone(timezone.utc)
    except OverflowError:
        raise ValueError("is out of range once in UTC") from None


# An ISO-8601 time with a zone, held in UTC: what every time column stores.
UtcDatetime = Annotated[AwareDatetime, AfterValidator(in_utc)]


class Place(Located):
    """A geofence centre (a position or an address) with its radius in metres."""

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


class RouteCompute(BaseModel):
    """``POST /api/v1/trips/<id>/route``: ``{"compute": true}`` asks the router for the road route."""

    model_config = ConfigDict(extra="forbid")

    compute: Literal[True]


class StatusChange(BaseModel):
    """``POST /api/v1/trips/<id>/status``."""

    model_config = ConfigDict(extra="forbid")

    status: str = Field(max_length=20)
    pin: str | None = Field(default=None, max_length=8)
    # Why (a cancellation's reason, said in the timeline); optional over the API, asked for on the page.
    reason: str | None = Field(default=None, max_length=500)


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


class FlagPoint(Located):
    """A flagged address: its position (or the address) and how far the warning reaches, in metres."""

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


class ZonePatch(BaseModel):
    """``PATCH /api/v1/hazard-zones/<id>``: only the fields given change; ``expires_at: null`` never expires."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=120)
    reason: str | None = Field(default=None, max_length=500)
    polygon: dict[str, Any] | None = None
    expires_at: UtcDatetime | None = None


class FlagPatch(BaseModel):
    """``PATCH /api/v1/flagged-places/<id>``: only the fields given change; a point replaces a polygon and back."""

    model_config = ConfigDict(extra="forbid")

    label: str | None = Field(default=None, min_length=1, max_length=200)
    category: Literal["aggressive_resident", "unsafe_parking", "no_lift", "dog", "access", "other"] | None = None
    reason: str | None = Field(default=None, min_length=1, max_length=1000)
    point: FlagPoint | None = None
    polygon: dict[str, Any] | None = None
    expires_at: UtcDatetime | None = None


class TripPatch(BaseModel):
    """``PATCH /api/v1/trips/<id>``: only the fields given change; ``escort: null`` unassigns a planned trip."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    escort: str | None = Field(default=None, min_length=1, max_length=80)
    pickup: Place | None = None
    dropoff: Place | None = None
    scheduled_pickup_at: UtcDatetime | None = None
    appointment_at: UtcDatetime | None = None
    allowed_stops: list[Place] | None = Field(default=None, max_length=50)
    settings: dict[str, Any] | None = None

    def changes(self) -> dict[str, Any]:
        """Return the fields the body named, as plain values; refuse null where a value is needed."""
        named = self.model_fields_set
        nullable = {"escort", "appointment_at"}
        for name in sorted(named - nullable):
            if getattr(self, name) is None:
                raise ValueError(f"{name}: may not be null")
        if not named:
            raise ValueError("name at least one field to change: " + ", ".join(type(self).model_fields))
        return {name: _plain(getattr(self, name)) for name in named}


def _plain(value: Any) -> Any:
    """Return pydantic values as dicts and lists of dicts (Places dumped)."""
    if isinstance(value, BaseModel):
        return value.model_dump()
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


class TripDuplicate(BaseModel):
    """``POST /api/v1/trips/<id>/duplicate``: new times and an escort, each optional."""

    model_config = ConfigDict(extra="forbid")

    scheduled_pickup_at: UtcDatetime | None = None
    appointment_at: UtcDatetime | None = None
    escort: str | None = Field(default=None, min_length=1, max_length=80)


class StandingOrderCreate(BaseModel):
    """``POST /api/v1/standing-orders``: a repeating trip; times are local to the office's zone."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    patient_id: int = Field(gt=0, le=MAX_ROW_ID)
    escort: str | None = Field(default=None, max_length=80)
    pickup: Place
    dropoff: Place
    route: dict[str, Any] | None = None
    allowed_stops: list[Place] = Field(default_factory=list, max_length=50)
    settings: dict[str, Any] = Field(default_factory=dict)
    pickup_time: str = Field(max_length=5, description="HH:MM, local")
    appointment_time: str | None = Field(default=None, max_length=5, description="HH:MM, local")
    days: list[Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]] = Field(min_length=1, max_length=7)
    starts_on: date
    ends_on: date


class StandingOrderSkip(BaseModel):
    """``POST /api/v1/standing-orders/<id>/skip``."""

    model_config = ConfigDict(extra="forbid")

    on: date = Field(alias="date")
