"""Request bodies of the patient endpoints."""

from __future__ import annotations

import re

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

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

    @model_validator(mode="after")
    def _schedule(self) -> "Medication":
        """Require a schedule, and a last dose to count an interval from."""
        if not self.times and self.every_hours is None:
            raise ValueError("give times of day or every_hours")
        if self.every_hours is not None and self.last_dose_at is None:
            raise ValueError("every_hours needs last_dose_at to count from")
        return self


class PatientCreate(BaseModel):
    """``POST /api/v1/patients`` (name, contacts and medications for now)."""

    model_config = ConfigDict(extra="ignore")

    name: str = Field(min_length=1, max_length=200)
    contacts: list[Contact] = Field(default_factory=list, max_length=20)
    medications: list[Medication] = Field(default_factory=list, max_length=50)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        """Refuse a name of spaces."""
        if not value.strip():
            raise ValueError("must not be blank")
        return value.strip()
