"""Who read or changed what, when, and from where: append-only."""

from __future__ import annotations

from sqlmodel import Session

from app.db import utcnow
from app.models import AuditEvent, User


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
