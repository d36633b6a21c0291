"""The admin API and pages: the audit log (``/api/v1/audit``, ``/admin/audit``) and offboarding (users, tokens, devices)."""

from __future__ import annotations

from datetime import datetime, timezone

from flask import Blueprint, g, jsonify, render_template, request
from pydantic import BaseModel, ConfigDict, Field
from sqlmodel import Session, select

from app import accounts, logins
from app.api import ApiError, parse
from app.audit import ACTIONS
from app.auth import AuthError, api_roles, find_user, page_roles
from app.db import request_session, utcnow
from app.models import AuditEvent
from app.realtime import riders
from app.times import iso_z
from tracking import devices

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


def search(session: Session, *, action_contains: bool = False) -> tuple[list[AuditEvent], int | None]:
    """Return one page of audit lines matching the query string, newest first, and the next cursor.

    With ``action_contains`` (the audit page) the action matches any part of it, in any case.
    """
    query = select(AuditEvent).order_by(AuditEvent.id.desc())
    patient_id = _int("patient_id")
    if patient_id is not None:
        query = query.where(AuditEvent.object_type == "patient", AuditEvent.object_id == patient_id)
    for name, column in (("user", AuditEvent.username), ("action", AuditEvent.action),
                         ("object_type", AuditEvent.object_type)):
        value = (request.args.get(name) or "").strip()[:80]
        if value and name == "action" and action_contains:
            query = query.where(column.icontains(value, autoescape=True))
        elif value:
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


def detail_text(detail: dict | None) -> list[tuple[str, str]]:
    """Return an audit line's detail as (key, text) pairs for people: lists and objects in words, not JSON."""
    def words(value) -> str:
        if isinstance(value, dict):
            return ", ".join(f"{k} {words(v)}" for k, v in value.items()) or "none"
        if isinstance(value, (list, tuple)):
            return ", ".join(words(v) for v in value) or "none"
        if value is None:
            return "none"
        if isinstance(value, bool):
            return "yes" if value else "no"
        return str(value)

    return [(str(key).replace("_", " "), words(value)) for key, value in (detail or {}).items()]


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
        rows, next_before = search(request_session(), action_contains=True)
        error = None
    except ApiError as exc:
        rows, next_before, error = [], None, exc.message
    args = {k: v for k, v in request.args.items() if k != "before_id"}
    storm = logins.recent_storm(request_session(), now=utcnow())
    return render_template("admin/audit.html", events=[public(e) for e in rows], args=args,
                           next_before=next_before, error=error, me=g.user.username, actions=ACTIONS,
                           detail_text=detail_text,
                           storm=public(storm) if storm else None), 400 if error else 200


class PasswordReset(BaseModel):
    """A new password set by an admin."""

    model_config = ConfigDict(extra="forbid")
    password: str = Field(min_length=8, max_length=200)


def _times(row: dict) -> dict:
    """Return a listing row with its datetimes as ISO-8601 UTC."""
    return {k: iso_z(v) if isinstance(v, datetime) else v for k, v in row.items()}


def _user(name: str):
    """Return the user named in the URL, or 404."""
    try:
        return find_user(request_session(), name)
    except AuthError as exc:
        raise ApiError(str(exc), 404) from None


def _done(session: Session, credentials: list, body: dict):
    """Commit an offboarding action, drop this process's sockets that rode on what it ended, answer."""
    session.commit()
    riders.drop(credentials)
    return jsonify(body)


@api.get("/users")
@api_roles("admin")
def list_users_api():
    """List users: role, active, locked until, open login sessions and when last seen."""
    return jsonify([_times(u) for u in accounts.list_users(request_session(), now=utcnow())])


@api.post("/users/<name>/disable")
@api_roles("admin")
def disable_user_api(name: str):
    """Disable a user: their login sessions end, API tokens stop, live sockets drop."""
    session, user = request_session(), _user(name)
    try:
        creds = accounts.disable_user(session, user, now=utcnow(), by=g.user, via="api")
    except AuthError as exc:
        raise ApiError(str(exc), 409) from None
    return _done(session, creds, {"username": user.username, "active": False})


@api.post("/users/<name>/enable")
@api_roles("admin")
def enable_user_api(name: str):
    """Enable a disabled or locked user again."""
    session, user = request_session(), _user(name)
    try:
        accounts.enable_user(session, user, now=utcnow(), by=g.user, via="api")
    except AuthError as exc:
        raise ApiError(str(exc), 409) from None
    return _done(session, [], {"username": user.username, "active": True})


@api.post("/users/<name>/reset-password")
@api_roles("admin")
def reset_password_api(name: str):
    """Set a user's password; their login sessions end and a lockout is lifted."""
    body = parse(PasswordReset)
    session, user = request_session(), _user(name)
    try:
        creds = accounts.reset_password(session, user, body.password, now=utcnow(), by=g.user, via="api")
    except AuthError as exc:
        raise ApiError(str(exc)) from None
    return _done(session, creds, {"username": user.username, "sessions_ended": len(creds)})


@api.get("/tokens")
@api_roles("admin")
def list_tokens_api():
    """List API tokens (never their secret): user, created, last used, expires, revoked."""
    name = (request.args.get("user") or "").strip() or None
    if name is not None:
        _user(name)
    return jsonify([_times(t) for t in accounts.list_tokens(request_session(), name)])


@api.post("/tokens/<int:token_id>/revoke")
@api_roles("admin")
def revoke_token_api(token_id: int):
    """Revoke an API token: refused from now on, its live sockets dropped."""
    session = request_session()
    try:
        cred = accounts.revoke_token(session, token_id, now=utcnow(), by=g.user, via="api")
    except AuthError as exc:
        raise ApiError(str(exc), 404 if "no API token" in str(exc) else 409) from None
    return _done(session, [cred], {"id": token_id, "revoked": True})


@api.get("/devices")
@api_roles("admin")
def list_devices_api():
    """List devices: label, escort, last seen, revoked."""
    return jsonify([_times(d) for d in devices.list_devices(request_session())])


@api.post("/devices/<int:device_id>/revoke")
@api_roles("admin")
def revoke_device_api(device_id: int):
    """Revoke a device's token: refused on every entry from now on, its live sockets dropped."""
    session = request_session()
    try:
        device = devices.find_device(session, device_id=device_id)
    except devices.DeviceError as exc:
        raise ApiError(str(exc), 404) from None
    try:
        cred = devices.revoke_device(session, device, now=utcnow(), by=g.user, via="api")
    except devices.DeviceError as exc:
        raise ApiError(str(exc), 409) from None
    return _done(session, [cred], {"id": device.id, "label": device.label, "revoked": True})
