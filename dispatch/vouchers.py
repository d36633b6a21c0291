"""Panic vouchers: a shared tablet sends a panic queued by an escort who has since logged out.

Each escort page carries a signed, expiring voucher naming its escort. A panic pressed
offline is stored with that voucher; if another escort logs in on the tablet before it was
sent, it goes to ``POST /api/v1/queued-panics`` with the voucher and is raised as the panic
of the escort who pressed it, never of the one now logged in.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlmodel import Session, select

from app import realtime
from app.audit import record
from app.models import User
from app.times import iso_z
from dispatch import alerts, safety, trips
from dispatch.models import Alert
from tracking import devices
from tracking.schemas import parse_panic

SALT = "escort-panic-voucher"
VALID_S = 24 * 3600


class VoucherError(ValueError):
    """The voucher is forged, expired or names no escort; the message is safe to show."""


def _serializer(secret: str) -> URLSafeTimedSerializer:
    """Return the signer of vouchers (its own salt: no other signed value passes as one)."""
    return URLSafeTimedSerializer(secret, salt=SALT)


def issue(secret: str, user_id: int) -> str:
    """Return a voucher for the escort ``user_id``."""
    return _serializer(secret).dumps({"user_id": user_id})


def holder(secret: str, voucher: object, *, max_age_s: float = VALID_S) -> int:
    """Return the user id a voucher was issued to, or raise VoucherError."""
    if not isinstance(voucher, str) or not voucher:
        raise VoucherError("voucher must be the string the escort page gave")
    try:
        payload = _serializer(secret).loads(voucher, max_age=max_age_s)
    except SignatureExpired:
        raise VoucherError("the voucher has expired; the escort's own login sends the panic") from None
    except BadSignature:
        raise VoucherError("the voucher is not valid") from None
    user_id = payload.get("user_id") if isinstance(payload, dict) else None
    if not isinstance(user_id, int):
        raise VoucherError("the voucher is not valid")
    return user_id


def redeem(session: Session, secret: str, body: object, *, sender: User | None, now: datetime) -> Alert:
    """Raise the queued panic as the voucher's escort's, once per (escort, ts); audit who sent it."""
    body = body if isinstance(body, dict) else {}
    escort = session.get(User, holder(secret, body.get("voucher")))
    if escort is None or escort.role != "escort":
        raise VoucherError("the voucher names no escort")
    device = devices.tablet_for(session, escort, now=now)
    at, lat, lon = parse_panic(body, now=now)
    alert = _already_raised(session, device.id, at)
    replay = alert is not None
    if alert is None:
        if lat is None and device.last_lat is not None:
            lat, lon = device.last_lat, device.last_lon
        trip = trips.active_trip_for_device(session, device)
        alert = safety.panic(session, trip=trip, device_id=device.id, at=at, now=now, lat=lat, lon=lon,
                             source="queued")
    record(session, sender, "panic_queued", object_type="user", object_id=escort.id,
           detail={"escort": escort.username, "ts": iso_z(at), "alert_id": alert.id, "replay": replay})
    session.commit()
    if not replay:
        realtime.emit_alert(alerts.public(alert))
    return alert


def _already_raised(session: Session, device_id: int, at: datetime) -> Alert | None:
    """Return the panic this device already raised at ``at`` (to the millisecond), if any."""
    near = timedelta(milliseconds=1)
    return session.exec(select(Alert).where(
        Alert.kind == "panic", Alert.device_id == device_id, Alert.raised_at >= at - near,
        Alert.raised_at <= at + near,
    )).first()
