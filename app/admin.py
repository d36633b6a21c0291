"""The audit log for admins: ``GET /api/v1/audit`` and a search page at ``/admin/audit``."""

from __future__ import annotations

from datetime import datetime, timezone

from flask import Blueprint, g, jsonify, render_template, request
from sqlmodel import Session, select

from app.api import ApiError
from app.auth import api_roles, page_roles
from app.db import request_session
from app.models import AuditEvent
from tracking.fix import iso_z

api = Blueprint("admin_api", __name__, url_prefix="/api/v1")
pages = Blueprint("admin", __name__, url_prefix="/admin")
PAGE = 100
MAX_PAGE = 1000


def _int(name: str, *, default: int | None = None, lo: int = 1, hi: int = 2**31 - 1) -> int | None:
    """Read a whole-number query parameter, or fail with a clear message."""
    raw = (request.args.get(name) or "").strip()
    if not raw:
        return default
    if not (raw.isascii() and raw.isdigit()) or not lo <= int(raw) <= hi:
        raise ApiError(f"{name} must be a whole number from {lo} to {hi}")
    return int(raw)


def _time(name: str) -> datetime | None:
    """Read an ISO-8601 time query parameter (UTC when it names no zone)."""
    raw = (request.args.get(name) or "").strip()
    if not raw:
        return None
    try:
        value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise ApiError(f"{name} must be an ISO-8601 time such as 2026-11-23T09:00:00Z") from None
    try:
        return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)
    except OverflowError:  # 9999-12-31T23:59:59-12:00 lies past the last datetime once in UTC
        raise ApiError(f"{name} is out of range once in UTC: use a time between the years 1 and 9999") from None


def search(session: Session) -> tuple[list[AuditEvent], int | None]:
    """Return one page of audit lines matching the query string, newest first, and the next cursor."""
    query = select(AuditEvent).order_by(AuditEvent.id.desc())
    patient_id = _int("patient_id")
    if patient_id is not None:
        query = query.where(AuditEvent.object_type == "patient", AuditEvent.object_id == patient_id)
    for name, column in (("user", AuditEvent.username), ("action", AuditEvent.action),
                         ("object_type", AuditEvent.object_type)):
        value = (request.args.get(name) or "").strip()[:80]
        if value:
            query = query.where(column == value)
    since, until = _time("since"), _time("until")
    if since:
        query = query.where(AuditEvent.at >= since)
    if until:
        query = query.where(AuditEvent.at < until)
    before = _int("before_id")
    if before is not None:
        query = query.where(AuditEvent.id < before)
    limit = _int("limit", default=PAGE, hi=MAX_PAGE)
    rows = list(session.exec(query.limit(limit + 1)).all())
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (rows[-1].id if more and rows else None)


def public(event: AuditEvent) -> dict:
    """Return one audit line as the API shows it."""
    return {"id": event.id, "at": iso_z(event.at), "user": event.username, "user_id": event.user_id,
            "action": event.action, "object_type": event.object_type, "object_id": event.object_id,
            "remote_addr": event.remote_addr, "detail": event.detail}


@api.get("/audit")
@api_roles("admin")
def audit_api():
    """Search the audit log: patient_id, user, action, object_type, since, until; paged by before_id."""
    rows, next_before = search(request_session())
    return jsonify({"events": [public(e) for e in rows], "next_before_id": next_before})


@pages.route("/audit")
@page_roles("admin")
def audit_page():
    """Show the audit log search page."""
    try:
        rows, next_before = search(request_session())
        error = None
    except ApiError as exc:
        rows, next_before, error = [], None, exc.message
    args = {k: v for k, v in request.args.items() if k != "before_id"}
    return render_template("admin/audit.html", events=[public(e) for e in rows], args=args,
                           next_before=next_before, error=error, me=g.user.username), 400 if error else 200
