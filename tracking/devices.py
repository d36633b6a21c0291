"""Registering devices, finding them by token, and the escort's own browser tablet."""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from app.audit import record
from app.auth import hash_token, new_token
from app.models import User
from app.realtime import Credential
from tracking.models import Device, FixRow


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


def _escort_active():
    """Return the condition that a device's escort, if it has one, is not disabled.

    A tracker given to an escort stops being heard when that escort is disabled (offboarding):
    a phone left with someone who no longer works here must not keep placing itself on the
    dispatchers' map. Enabling the escort again lets it back in.
    """
    disabled = select(User.id).where(User.id == Device.escort_user_id, User.is_active.is_(False)).exists()
    return ~disabled


def device_for_token(session: Session, token: str | None) -> Device | None:
    """Return the device a token belongs to (neither revoked nor its escort disabled), or None."""
    if not token or not isinstance(token, str) or len(token) > 200:
        return None
    return session.exec(select(Device).where(Device.token_hash == hash_token(token), Device.revoked_at.is_(None),
                                             _escort_active())).first()


def list_devices(session: Session) -> list[dict]:
    """Return every device with its escort, when it was last heard from, its battery, and whether it is revoked."""
    # The battery of the device's newest fix that reported one: the (device_id, seq) index finds it.
    battery = (select(FixRow.battery_pct).where(FixRow.device_id == Device.id, FixRow.battery_pct.is_not(None))
               .order_by(FixRow.seq.desc()).limit(1).scalar_subquery())
    rows = session.exec(select(Device, User.username, battery)
                        .join(User, User.id == Device.escort_user_id, isouter=True).order_by(Device.label)).all()
    return [{"id": d.id, "label": d.label, "escort": name, "has_token": d.token_hash is not None,
             "created_at": d.created_at, "last_seen_at": d.last_seen_at, "last_fix_at": d.last_fix_at,
             "battery_pct": pct, "revoked_at": d.revoked_at}
            for d, name, pct in rows]


def enrol_device(session: Session, label: str, escort: User | None, *, now: datetime, by: User | None,
                 via: str) -> tuple[Device, str]:
    """Register a device for an escort, audited; return it with its token (shown once)."""
    device, token = create_device(session, label, escort, now=now)
    record(session, by, "device_create", object_type="device", object_id=device.id,
           detail={"label": device.label, "escort": escort.username if escort else None, "via": via})
    return device, token


def find_device(session: Session, *, label: str | None = None, device_id: int | None = None) -> Device:
    """Return a device by label or id, or raise DeviceError."""
    query = select(Device).where(Device.label == label) if label is not None else select(Device).where(
        Device.id == device_id)
    device = session.exec(query).first()
    if device is None:
        raise DeviceError(f"no device {label!r}" if label is not None else f"no device with id {device_id}")
    return device


def revoke_device(session: Session, device: Device, *, now: datetime, by: User | None, via: str) -> Credential:
    """Revoke a device's token, audited; return the credential whose sockets must be dropped.

    A browser tablet has no token: it rides on the escort's login, so disabling the escort is
    what stops it.
    """
    if device.token_hash is None:
        raise DeviceError(f"{device.label!r} is an escort's browser tablet with no token: disable the escort instead")
    if device.revoked_at is not None:
        raise DeviceError(f"device {device.label!r} is already revoked")
    device.revoked_at = now
    session.add(device)
    record(session, by, "device_revoke", object_type="device", object_id=device.id,
           detail={"label": device.label, "via": via})
    return Credential("device", device.id)


def revoked_among(session: Session, held: set[Credential]) -> set[Credential]:
    """Return the device credentials among ``held`` whose device is revoked or gone, or whose escort is disabled."""
    ids = [c.id for c in held if c.kind == "device"]
    if not ids:
        return set()
    live = set(session.exec(select(Device.id).where(Device.id.in_(ids), Device.revoked_at.is_(None),
                                                    _escort_active())).all())
    return {Credential("device", i) for i in ids if i not in live}


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
