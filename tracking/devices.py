"""Registering devices, finding them by token, and the escort's own browser tablet."""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from app.auth import hash_token, new_token
from app.models import User
from tracking.models import Device


class DeviceRef(NamedTuple):
    """What the ingest path needs of a device, kept with its connection instead of reloaded."""

    id: int
    escort_user_id: int | None


class DeviceError(ValueError):
    """A device request that cannot be done; the message says why."""


def create_device(session: Session, label: str, escort: User | None, *, now: datetime) -> tuple[Device, str]:
    """Register a device and return it with its token (shown once, stored hashed)."""
    label = (label or "").strip()
    if not label or len(label) > 80:
        raise DeviceError("device label must be 1 to 80 characters")
    if escort is not None and escort.role != "escort":
        raise DeviceError(f"{escort.username!r} is not an escort")
    if session.exec(select(Device).where(Device.label == label)).first():
        raise DeviceError(f"a device labelled {label!r} already exists")
    token = new_token("esd")
    device = Device(label=label, token_hash=hash_token(token), escort_user_id=escort.id if escort else None,
                    created_at=now)
    session.add(device)
    session.flush()
    return device, token


def device_for_token(session: Session, token: str | None) -> Device | None:
    """Return the device a token belongs to, or None."""
    if not token or not isinstance(token, str) or len(token) > 200:
        return None
    return session.exec(select(Device).where(Device.token_hash == hash_token(token))).first()


def tablet_for(session: Session, user: User, *, now: datetime) -> Device:
    """Return the escort's browser tablet device, creating it on first use."""
    label = f"tablet:{user.username}"
    device = session.exec(select(Device).where(Device.label == label)).first()
    if device is not None:
        return device
    device = Device(label=label, escort_user_id=user.id, created_at=now)
    try:
        with session.begin_nested():
            session.add(device)
            session.flush()
    except IntegrityError:  # another tab created it at the same moment
        device = session.exec(select(Device).where(Device.label == label)).one()
    return device
