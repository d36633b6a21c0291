"""Who read or changed what, when, and from where: append-only."""

from __future__ import annotations

from sqlmodel import Session

from app.db import utcnow
from app.models import AuditEvent, User

# Every action written to the audit log (the admin's audit page offers them; a test reads the
# code for record() calls, so a new action must be listed here).
ACTIONS = (
    "account_locked", "code_phrase_set", "device_create", "device_revoke", "duty_off", "duty_on", "export",
    "flag_created", "flag_retired", "flag_updated",
    "keys_rotate", "live_link_created", "live_link_extended", "live_link_opened", "live_link_revoked",
    "lockout_storm", "login",
    "login_failed", "logout", "logout_idle", "panic_queued",
    "password_reset", "patient_create", "patient_read", "patient_read_denied", "patient_update", "pin_wrong",
    "pins_set", "place_declined", "place_published", "place_reported", "standing_order_created",
    "standing_order_ended", "standing_order_skip", "token_create",
    "token_revoke", "trip_duplicated", "trip_edited", "trip_read", "trip_reassigned", "user_contact",
    "user_create", "user_disable", "user_enable", "zone_created", "zone_retired", "zone_updated",
)


def record(
    session: Session,
    user: User | None,
    action: str,
    *,
    object_type: str | None = None,
    object_id: int | None = None,
    detail: dict | None = None,
    remote_addr: str | None = None,
) -> AuditEvent:
    """Add one audit line in the caller's transaction (so it commits with the act)."""
    if remote_addr is None:
        remote_addr = _remote_addr()
    event = AuditEvent(
        at=utcnow(),
        user_id=getattr(user, "id", None),
        username=getattr(user, "username", None),
        action=action,
        object_type=object_type,
        object_id=object_id,
        remote_addr=remote_addr,
        detail=detail or {},
    )
    session.add(event)
    return event


def _remote_addr() -> str | None:
    """Return the client's address when called inside a request."""
    from flask import has_request_context, request

    return request.remote_addr if has_request_context() else None
