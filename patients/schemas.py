"""Request bodies of the patient endpoints."""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field, field_validator

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


class PatientCreate(BaseModel):
    """``POST /api/v1/patients`` (name and contacts for now)."""

    model_config = ConfigDict(extra="ignore")

    name: str = Field(min_length=1, max_length=200)
    contacts: list[Contact] = Field(default_factory=list, max_length=20)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        """Refuse a name of spaces."""
        if not value.strip():
            raise ValueError("must not be blank")
        return value.strip()
