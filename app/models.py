"""Users, their API tokens and the audit log."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Index, false
from sqlmodel import Field, SQLModel

from app.db import UTCDateTime
from app.crypto import Sealed

ROLES = ("admin", "dispatcher", "escort", "coordinator")


class User(SQLModel, table=True):
    """A person who logs in: an admin, dispatcher, escort or care coordinator."""

    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(index=True, unique=True, max_length=80)
    role: str = Field(max_length=20)
    password_hash: str | None = Field(default=None, max_length=255)
    safe_pin_hash: str | None = Field(default=None, max_length=255)
    duress_pin_hash: str | None = Field(default=None, max_length=255)
    email: str | None = Field(default=None, max_length=200)
    # The escort's own emergency contact: the last step of an unanswered alert's escalation.
    # Sealed at rest (app/crypto.py, migration 0013): a private person's name and address.
    emergency_contact_name: str | None = Field(default=None, sa_type=Sealed)
    emergency_contact_email: str | None = Field(default=None, sa_type=Sealed)
    emergency_contact_phone: str | None = Field(default=None, sa_type=Sealed)
    # The escort's own phone, for those an escalation reaches (sealed at rest like the contact).
    phone: str | None = Field(default=None, sa_type=Sealed)
    is_active: bool = True
    failed_logins: int = 0
    locked_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # An escort's wrong PINs in a row, and until when a further PIN is refused unchecked
    # (``dispatch.safety``): on the row, so every process counts the same attempts.
    pin_failures: int = 0
    pin_locked_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # The escort's code phrase, hashed like the PINs as "<letters and digits in it>:<scrypt hash>":
    # a message that contains it silently raises duress (``dispatch.codeword``).
    code_phrase_hash: str | None = Field(default=None, max_length=300)
    # Switched on by the escort on their tablet: the position is shared with no trip assigned too.
    on_duty: bool = Field(default=False, sa_column_kwargs={"server_default": false()})
    created_at: datetime = Field(sa_type=UTCDateTime)

    # Flask-Login's protocol, kept here so the model is the user object.
    @property
    def is_authenticated(self) -> bool:
        """Say yes: a loaded user is an authenticated one."""
        return True

    @property
    def is_anonymous(self) -> bool:
        """Say no: this is a real user."""
        return False

    def get_id(self) -> str:
        """Return the id Flask-Login keeps in the session."""
        return str(self.id)


class ApiToken(SQLModel, table=True):
    """A bearer token for scripts acting as a user; only its SHA-256 is stored."""

    __tablename__ = "api_token"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="user.id", index=True)
    token_hash: str = Field(unique=True, max_length=64)
    created_at: datetime = Field(sa_type=UTCDateTime)
    last_used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # None: the token never expires (``escort tokens create NAME --expires-days N`` sets it).
    expires_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class LoginSession(SQLModel, table=True):
    """One browser login: the signed cookie carries its random key, and it is valid only while open.

    Only the key's SHA-256 is stored. Logging out, idling out or disabling the user sets
    ``ended_at``; every process then refuses the cookie and drops the sockets that rode on it.
    """

    __tablename__ = "login_session"

    id: int | None = Field(default=None, primary_key=True)
    key_hash: str = Field(unique=True, max_length=64)
    user_id: int = Field(foreign_key="user.id", index=True)
    created_at: datetime = Field(sa_type=UTCDateTime)
    last_seen_at: datetime = Field(sa_type=UTCDateTime)
    ended_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    ended_reason: str | None = Field(default=None, max_length=20)
    remote_addr: str | None = Field(default=None, max_length=64)


class AuditEvent(SQLModel, table=True):
    """One append-only line of who did or read what, when, and from where."""

    __tablename__ = "audit_event"
    # The login throttle counts an address's recent failed logins (app/auth.py).
    __table_args__ = (Index("ix_audit_event_remote_addr_at", "remote_addr", "at"),)

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(sa_type=UTCDateTime, index=True)
    user_id: int | None = Field(default=None, index=True)
    username: str | None = Field(default=None, max_length=80)
    action: str = Field(max_length=40)
    object_type: str | None = Field(default=None, max_length=40)
    object_id: int | None = Field(default=None, index=True)
    remote_addr: str | None = Field(default=None, max_length=64)
    detail: dict = Field(default_factory=dict, sa_type=JSON)
