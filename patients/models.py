"""The patient sheet (name, contacts and medications for now)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON
from sqlmodel import Field, SQLModel

from app.db import UTCDateTime


class Patient(SQLModel, table=True):
    """A person we escort."""

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=200)
    contacts: list = Field(default_factory=list, sa_type=JSON)
    # [{"name", "dose", "times": ["08:00", …]?, "every_hours"?, "last_dose_at"?}]
    medications: list = Field(default_factory=list, sa_type=JSON)
    created_at: datetime = Field(sa_type=UTCDateTime)
