"""The patient sheet: operational fields in the clear, everything clinical or personal sealed.

Sealed (``app.crypto.Sealed``, Fernet at rest): ``contacts``, ``medications`` and
``details`` (date of birth, home address, stairs and equipment, conditions, allergies,
infection control, cognitive and behavioural notes, advance directive, escort-visible and
dispatcher-only notes). In the clear, because planning lists and filters need them: the
name, member ID, language, level of service and the care coordinator.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from app.db import UTCDateTime
from app.crypto import Sealed


class Patient(SQLModel, table=True):
    """A person we escort."""

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=200)
    member_id: str | None = Field(default=None, max_length=60, index=True)
    language: str | None = Field(default=None, max_length=60)
    interpreter_needed: bool = False
    # Level of service: ambulatory, wheelchair or stretcher; curb_to_curb, door_to_door or door_through_door.
    mobility: str = Field(default="ambulatory", max_length=20)
    assistance: str = Field(default="door_to_door", max_length=20)
    # The care coordinator whose caseload this patient is in: they review the patient's trips.
    coordinator_user_id: int | None = Field(default=None, foreign_key="user.id", index=True)
    # [{"name", "phone", "relation"?, "role"?}] with role one of patients.schemas.CONTACT_ROLES.
    contacts: list = Field(default_factory=list, sa_type=Sealed)
    # [{"name", "dose", "times": ["08:00", …]?, "every_hours"?, "last_dose_at"?}]
    medications: list = Field(default_factory=list, sa_type=Sealed)
    # Everything else on the sheet that is personal or clinical (see patients.schemas.SheetDetails).
    details: dict = Field(default_factory=dict, sa_type=Sealed)
    created_at: datetime = Field(sa_type=UTCDateTime)
    updated_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
