"""Login sessions that really end, the failed-login throttle, and which credentials have ended."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from sqlalchemy import func, or_, update
from sqlmodel import Session, select

from app.audit import record
from app.models import ApiToken, AuditEvent, LoginSession, User
from app.realtime import Credential

# last_seen_at is written at most this often per session: idle logout needs minutes, not
# seconds, and a write on every request would cost every page and API call a transaction.
TOUCH_EVERY = timedelta(seconds=60)
THROTTLE_WINDOW = timedelta(minutes=15)
# Failed logins from one address in THROTTLE_WINDOW before it is answered 429: enough for a
# ward of typing staff behind one NAT address, too few to lock more than a couple of accounts.
MAX_FAILURES_PER_ADDR = 10
# Accounts locked within THROTTLE_WINDOW that make a "lockout storm" admins are told about.
LOCK_STORM_ACCOUNTS = 3


def hash_token(key: str) -> str:
    """Return the SHA-256 hex of a random key (as app.auth.hash_token; auth imports this module)."""
    return hashlib.sha256(key.encode()).hexdigest()


def open_session(session: Session, user: User, *, now: datetime, remote_addr: str | None) -> str:
    """Open a login session for the user and return its key for the signed cookie (stored hashed)."""
    key = secrets.token_urlsafe(32)
    session.add(LoginSession(key_hash=hash_token(key), user_id=user.id, created_at=now, last_seen_at=now,
                             remote_addr=(remote_addr or "")[:64] or None))
    session.flush()
    return key


def find_open(session: Session, key: object) -> tuple[LoginSession, User] | None:
    """Return the open login session of a cookie's key with its user, or None."""
    if not isinstance(key, str) or not key or len(key) > 100:
        return None
    return session.exec(
        select(LoginSession, User).join(User, User.id == LoginSession.user_id)
        .where(LoginSession.key_hash == hash_token(key), LoginSession.ended_at.is_(None))
    ).first()


def is_idle(row: LoginSession, user: User, *, now: datetime, idle_logout_s: float) -> bool:
    """Say whether a staff session has gone ``idle_logout_s`` without a request (escorts never idle out)."""
    return idle_logout_s > 0 and user.role != "escort" and (now - row.last_seen_at).total_seconds() > idle_logout_s


def touch(row: LoginSession, *, now: datetime) -> bool:
    """Move the session's last_seen_at to now when it is a minute old; say whether it moved."""
    if now - row.last_seen_at < TOUCH_EVERY:
        return False
    row.last_seen_at = now
    return True


def end(session: Session, ids: list[int], reason: str, *, now: datetime) -> list[int]:
    """End the open sessions among ``ids``; return those this call ended (another process may race)."""
    ended = []
    for session_id in ids:
        done = session.execute(update(LoginSession)
                               .where(LoginSession.id == session_id, LoginSession.ended_at.is_(None))
                               .values(ended_at=now, ended_reason=reason))
        if done.rowcount:
            ended.append(session_id)
    return ended


def end_for_user(session: Session, user_id: int, reason: str, *, now: datetime) -> list[int]:
    """End every open session of one user; return their ids."""
    ids = session.exec(select(LoginSession.id).where(LoginSession.user_id == user_id,
                                                     LoginSession.ended_at.is_(None))).all()
    return end(session, list(ids), reason, now=now)


def end_idle(session: Session, *, now: datetime, idle_logout_s: float) -> list[int]:
    """End staff sessions idle for longer than ``idle_logout_s``, auditing each; return their ids."""
    if idle_logout_s <= 0:
        return []
    # last_seen_at lags by up to TOUCH_EVERY: a session is idle once even its lag is past the limit.
    cutoff = now - timedelta(seconds=idle_logout_s) - TOUCH_EVERY
    rows = session.exec(
        select(LoginSession, User).join(User, User.id == LoginSession.user_id)
        .where(LoginSession.ended_at.is_(None), LoginSession.last_seen_at < cutoff, User.role != "escort")
    ).all()
    ended = []
    for row, user in rows:
        if end(session, [row.id], "idle", now=now):
            record(session, user, "logout_idle", object_type="login_session", object_id=row.id,
                   detail={"idle_s": round((now - row.last_seen_at).total_seconds())})
            ended.append(row.id)
    return ended


def ended_credentials(session: Session, held: set[Credential], *, now: datetime) -> set[Credential]:
    """Return the login sessions and API tokens among ``held`` that no longer admit anyone."""
    logins = [c.id for c in held if c.kind == "login"]
    tokens = [c.id for c in held if c.kind == "api"]
    gone: set[Credential] = set()
    if logins:
        still = set(session.exec(
            select(LoginSession.id).join(User, User.id == LoginSession.user_id)
            .where(LoginSession.id.in_(logins), LoginSession.ended_at.is_(None), User.is_active)).all())
        gone |= {Credential("login", i) for i in logins if i not in still}
    if tokens:
        still = set(session.exec(
            select(ApiToken.id).join(User, User.id == ApiToken.user_id)
            .where(ApiToken.id.in_(tokens), ApiToken.revoked_at.is_(None), User.is_active,
                   or_(ApiToken.expires_at.is_(None), ApiToken.expires_at > now))).all())
        gone |= {Credential("api", i) for i in tokens if i not in still}
    return gone


def throttled(session: Session, remote_addr: str | None, *, now: datetime) -> bool:
    """Say whether an address has failed too many logins lately (counted in the audit log: any process)."""
    if not remote_addr:
        return False
    failures = session.exec(
        select(func.count()).select_from(AuditEvent)
        .where(AuditEvent.remote_addr == remote_addr, AuditEvent.at >= now - THROTTLE_WINDOW,
               AuditEvent.action == "login_failed")).one()
    return failures >= MAX_FAILURES_PER_ADDR


def lock_storm(session: Session, *, now: datetime) -> dict | None:
    """Record a ``lockout_storm`` once per window when many accounts locked lately; return its detail."""
    since = now - THROTTLE_WINDOW
    locked = session.exec(select(AuditEvent.username).where(AuditEvent.action == "account_locked",
                                                            AuditEvent.at >= since)).all()
    if len(set(locked)) < LOCK_STORM_ACCOUNTS:
        return None
    told = session.exec(select(AuditEvent.id).where(AuditEvent.action == "lockout_storm",
                                                    AuditEvent.at >= since)).first()
    if told is not None:
        return None
    detail = {"accounts": sorted({n for n in locked if n}), "window_min": int(THROTTLE_WINDOW.total_seconds() // 60)}
    record(session, None, "lockout_storm", detail=detail)
    return detail


def recent_storm(session: Session, *, now: datetime, within: timedelta = timedelta(hours=24)) -> AuditEvent | None:
    """Return the latest lockout storm of the last day, for the notice on the admin pages."""
    return session.exec(select(AuditEvent).where(AuditEvent.action == "lockout_storm", AuditEvent.at >= now - within)
                        .order_by(AuditEvent.id.desc())).first()
