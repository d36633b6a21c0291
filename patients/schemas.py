"""Request bodies of the patient endpoints."""

from __future__ import annotations

import re
from datetime import date, datetime, timezone
from typing import Annotated, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from places.schemas import Located

PHONE = re.compile(r"^\+?[0-9 ()./-]{5,30}$")


class Contact(BaseModel):
    """Someone to call about the patient."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    phone: str = Field(max_length=40)
    relation: str | None = Field(default=None, max_length=80)

    @field_validator("phone")
    @classmethod
    def _phone(cls, value: str) -> str:
        """Accept digits with the usual separators and an optional leading +."""
        value = value.strip()
        if not PHONE.match(value) or sum(c.isdigit() for c in value) < 5:
            raise ValueError("must be a phone number such as +44 20 7946 0958")
        return value


HHMM = re.compile(r"^([01][0-9]|2[0-3]):[0-5][0-9]$")


class Medication(BaseModel):
    """A medication with its dose and schedule: times of day, or every N hours."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    dose: str = Field(min_length=1, max_length=100)
    times: list[str] = Field(default_factory=list, max_length=24)
    every_hours: float | None = Field(default=None, ge=0.5, le=72)
    last_dose_at: AwareDatetime | None = None

    @field_validator("times")
    @classmethod
    def _times(cls, value: list[str]) -> list[str]:
        """Accept 24-hour HH:MM times of day."""
        for t in value:
            if not HHMM.match(t):
                raise ValueError(f"{t!r} is not a time of day like 08:00")
        return sorted(set(value))

    @field_validator("last_dose_at")
    @classmethod
    def _last_dose(cls, value: datetime | None) -> datetime | None:
        """Hold the last dose in UTC, within years a schedule can count from (0001+14:00 overflows UTC)."""
        if value is None:
            return None
        try:
            value = value.astimezone(timezone.utc)
        except OverflowError:
            raise ValueError("is out of range once in UTC") from None
        if not 2000 <= value.year <= 2200:
            raise ValueError("must be a time between the years 2000 and 2200")
        return value

    @model_validator(mode="after")
    def _schedule(self) -> "Medication":
        """Require a schedule, and a last dose to count an interval from."""
        if not self.times and self.every_hours is None:
            raise ValueError("give times of day or every_hours")
        if self.every_hours is not None and self.last_dose_at is None:
            raise ValueError("every_hours needs last_dose_at to count from")
        return self


CONTACT_ROLES = ("emergency", "guardian", "coordinator", "physician", "pickup", "dropoff", "other")
MOBILITY = ("ambulatory", "wheelchair", "stretcher")
ASSISTANCE = ("curb_to_curb", "door_to_door", "door_through_door")
RISK = ("low", "medium", "high")


class SheetContact(Contact):
    """A contact with their part in the patient's care."""

    role: Literal["emergency", "guardian", "coordinator", "physician", "pickup", "dropoff", "other"] = "emergency"


class Equipment(BaseModel):
    """Equipment that travels with the patient; oxygen has its flow."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=80)
    oxygen_flow_lpm: float | None = Field(default=None, gt=0, le=25)


class Cognitive(BaseModel):
    """Cognitive and behavioural notes, with how the escort should handle them."""

    model_config = ConfigDict(extra="forbid")

    orientation: str | None = Field(default=None, max_length=200)
    wandering_risk: Literal["low", "medium", "high"] | None = None
    fall_risk: Literal["low", "medium", "high"] | None = None
    guidance: str | None = Field(default=None, max_length=2000)


class AdvanceDirective(BaseModel):
    """Resuscitation wishes and where the signed document travels."""

    model_config = ConfigDict(extra="forbid")

    dnr: bool = False
    document_location: str | None = Field(default=None, max_length=300)

    @model_validator(mode="after")
    def _where(self) -> "AdvanceDirective":
        """A DNR is only honoured with the document: say where it is."""
        if self.dnr and not (self.document_location or "").strip():
            raise ValueError("a DNR needs document_location (where the signed form travels)")
        return self


def _text(limit: int):
    """Return an optional free-text field of at most ``limit`` characters."""
    return Field(default=None, max_length=limit)


class SheetFields(BaseModel):
    """Every field of the patient sheet, all optional (``PATCH`` sends some of them)."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=200)
    date_of_birth: date | None = None
    member_id: str | None = _text(60)
    language: str | None = _text(60)
    interpreter_needed: bool | None = None
    home_address: str | None = _text(300)
    # Where the home is: lat and lon (the form's pin), or an address that the geocoder places.
    home: Located | None = None
    mobility: Literal["ambulatory", "wheelchair", "stretcher"] | None = None
    assistance: Literal["curb_to_curb", "door_to_door", "door_through_door"] | None = None
    stairs_count: int | None = Field(default=None, ge=0, le=500)
    equipment: list[Equipment] | None = Field(default=None, max_length=20)
    conditions: list[Annotated[str, Field(min_length=1, max_length=200)]] | None = Field(default=None, max_length=50)
    allergies: list[Annotated[str, Field(min_length=1, max_length=200)]] | None = Field(default=None, max_length=50)
    infection_control: str | None = _text(300)
    cognitive: Cognitive | None = None
    advance_directive: AdvanceDirective | None = None
    contacts: list[SheetContact] | None = Field(default=None, max_length=20)
    medications: list[Medication] | None = Field(default=None, max_length=50)
    escort_notes: str | None = _text(4000)
    dispatcher_notes: str | None = _text(4000)
    # The care coordinator's user name; their caseload is what they review.
    coordinator: str | None = _text(80)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str | None) -> str | None:
        """Refuse a name of spaces."""
        if value is not None and not value.strip():
            raise ValueError("must not be blank")
        return value.strip() if value else value

    @field_validator("date_of_birth")
    @classmethod
    def _born(cls, value: date | None) -> date | None:
        """Refuse a birth date in the future or more than 130 years ago."""
        if value is None:
            return value
        today = datetime.now(timezone.utc).date()
        if value > today:
            raise ValueError("must not be in the future")
        if value.year < today.year - 130:
            raise ValueError("must be within the last 130 years")
        return value


class PatientCreate(SheetFields):
    """``POST /api/v1/patients``: a new sheet; the name is required."""

    name: str = Field(min_length=1, max_length=200)


# Sealed in ``Patient.details``; the rest are columns of their own.
DETAIL_FIELDS = ("date_of_birth", "home_address", "home", "stairs_count", "equipment", "conditions", "allergies",
                 "infection_control", "cognitive", "advance_directive", "escort_notes", "dispatcher_notes")
COLUMN_FIELDS = ("name", "member_id", "language", "interpreter_needed", "mobility", "assistance")
