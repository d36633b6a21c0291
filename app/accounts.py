"""Offboarding: disable and enable users, reset passwords, list and revoke API tokens; all audited."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, select

from app import logins
from app.audit import record
from app.auth import AuthError, hash_secret
from app.models import ApiToken, LoginSession, User
from app.realtime import Credential


def _user_credentials(session: Session, user: User) -> list[Credential]:
    """Return every login session and API token of a user, whose sockets go when the user does."""
    tokens = session.exec(select(ApiToken.id).where(ApiToken.user_id == user.id)).all()
    sessions = session.exec(select(LoginSession.id).where(LoginSession.user_id == user.id)).all()
    return [Credential("api", i) for i in tokens] + [Credential("login", i) for i in sessions]


def disable_user(session: Session, user: User, *, now: datetime, by: User | None, via: str) -> list[Credential]:
    """Disable a user and end all their login sessions; return the credentials whose sockets must go."""
    if by is not None and by.id == user.id:
        raise AuthError("you cannot disable your own account")
    if not user.is_active:
        raise AuthError(f"user {user.username!r} is already disabled")
    user.is_active = False
    session.add(user)
    ended = logins.end_for_user(session, user.id, "disabled", now=now)
    record(session, by, "user_disable", object_type="user", object_id=user.id,
           detail={"username": user.username, "sessions_ended": len(ended), "via": via})
    return _user_credentials(session, user)


def enable_user(session: Session, user: User, *, now: datetime, by: User | None, via: str) -> None:
    """Enable a disabled user again and lift any lockout."""
    if user.is_active and user.locked_until is None:
        raise AuthError(f"user {user.username!r} is already enabled")
    user.is_active, user.failed_logins, user.locked_until = True, 0, None
    session.add(user)
    record(session, by, "user_enable", object_type="user", object_id=user.id,
           detail={"username": user.username, "via": via})


def reset_password(session: Session, user: User, password: str, *, now: datetime, by: User | None,
                   via: str) -> list[Credential]:
    """Set a new password, lift any lockout and end the user's sessions (the old password may be known)."""
    if not isinstance(password, str) or len(password) < 8:
        raise AuthError("password must be at least 8 characters")
    if len(password) > 200:
        raise AuthError("password must be at most 200 characters")
    user.password_hash, user.failed_logins, user.locked_until = hash_secret(password), 0, None
    session.add(user)
    ended = logins.end_for_user(session, user.id, "password_reset", now=now)
    record(session, by, "password_reset", object_type="user", object_id=user.id,
           detail={"username": user.username, "sessions_ended": len(ended), "via": via})
    return [Credential("login", i) for i in ended]


def list_users(session: Session, *, now: datetime) -> list[dict]:
    """Return every user with their role, state and open login sessions."""
    users = session.exec(select(User).order_by(User.username)).all()
    open_rows = session.exec(select(LoginSession).where(LoginSession.ended_at.is_(None))).all()
    by_user: dict[int, list[LoginSession]] = {}
    for row in open_rows:
        by_user.setdefault(row.user_id, []).append(row)
    return [{"id": u.id, "username": u.username, "role": u.role, "active": u.is_active,
             "locked_until": u.locked_until if u.locked_until and u.locked_until > now else None,
             "open_sessions": len(by_user.get(u.id, [])),
             "last_seen_at": max((r.last_seen_at for r in by_user.get(u.id, [])), default=None),
             "created_at": u.created_at} for u in users]


def list_tokens(session: Session, username: str | None = None) -> list[dict]:
    """Return API tokens (never their secret), oldest first, optionally of one user."""
    query = select(ApiToken, User.username).join(User, User.id == ApiToken.user_id).order_by(ApiToken.id)
    if username is not None:
        query = query.where(User.username == username)
    return [{"id": t.id, "user": name, "created_at": t.created_at, "last_used_at": t.last_used_at,
             "expires_at": t.expires_at, "revoked_at": t.revoked_at} for t, name in session.exec(query).all()]


def revoke_token(session: Session, token_id: int, *, now: datetime, by: User | None, via: str) -> Credential:
    """Revoke an API token by id; return the credential whose sockets must go."""
    token = session.get(ApiToken, token_id)
    if token is None:
        raise AuthError(f"no API token with id {token_id}")
    if token.revoked_at is not None:
        raise AuthError(f"API token {token_id} is already revoked")
    token.revoked_at = now
    session.add(token)
    owner = session.get(User, token.user_id)
    record(session, by, "token_revoke", object_type="api_token", object_id=token.id,
           detail={"username": owner.username if owner else None, "via": via})
    return Credential("api", token.id)
