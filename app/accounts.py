"""Accounts: create users, set contact details, disable and enable, reset passwords, create and revoke API tokens; all audited."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func
from sqlmodel import Session, select

from app import logins
from app.audit import record
from app.auth import AuthError, create_api_token, create_user, hash_secret
from app.models import ROLES, ApiToken, LoginSession, User
from app.realtime import Credential
from tracking.models import Device

MAX_TOKEN_DAYS = 3650
# What ``set_contact`` may change, with the words its messages use.
CONTACT_FIELDS = {"email": "e-mail", "emergency_contact_name": "emergency contact name",
                  "emergency_contact_email": "emergency contact e-mail",
                  "emergency_contact_phone": "emergency contact phone", "phone": "escort's own phone"}


def _user_credentials(session: Session, user: User) -> list[Credential]:
    """Return every login session, API token and tracker of a user, whose sockets go when the user does."""
    tokens = session.exec(select(ApiToken.id).where(ApiToken.user_id == user.id)).all()
    sessions = session.exec(select(LoginSession.id).where(LoginSession.user_id == user.id)).all()
    trackers = session.exec(select(Device.id).where(Device.escort_user_id == user.id)).all()
    return ([Credential("api", i) for i in tokens] + [Credential("login", i) for i in sessions]
            + [Credential("device", i) for i in trackers])


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
    """Return every user with their role, state, e-mail, last login and open login sessions."""
    users = session.exec(select(User).order_by(User.username)).all()
    open_rows = session.exec(select(LoginSession).where(LoginSession.ended_at.is_(None))).all()
    by_user: dict[int, list[LoginSession]] = {}
    for row in open_rows:
        by_user.setdefault(row.user_id, []).append(row)
    logged_in = last_logins(session)
    return [{"id": u.id, "username": u.username, "role": u.role, "active": u.is_active,
             "locked_until": u.locked_until if u.locked_until and u.locked_until > now else None,
             "open_sessions": len(by_user.get(u.id, [])),
             "last_seen_at": max((r.last_seen_at for r in by_user.get(u.id, [])), default=None),
             "last_login_at": logged_in.get(u.id), "email": u.email,
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


def add_user(session: Session, username: str, role: str, password: str | None, *, now: datetime, by: User | None,
             via: str) -> User:
    """Create a user, audited; staff need an initial password, escorts may have none (they use a PIN tablet)."""
    if not password and role in ROLES and role != "escort":
        raise AuthError(f"a new {role} needs an initial password of at least 8 characters (only escorts may have none)")
    user = create_user(session, username, role, password or None, now=now)
    record(session, by, "user_create", object_type="user", object_id=user.id,
           detail={"username": user.username, "role": role, "via": via})
    return user


def _email(label: str, value: str | None) -> None:
    """Refuse a value that is not an e-mail address."""
    if value and (value.count("@") != 1 or "." not in value.split("@")[1] or len(value) > 200):
        raise AuthError(f"{label} {value!r} is not an e-mail address")


def set_contact(session: Session, user: User, changes: dict[str, str | None], *, by: User | None, via: str) -> None:
    """Set a user's e-mail and, for an escort, their emergency contact; a blank value clears it; audited.

    ``changes`` maps ``email``, ``emergency_contact_name``, ``…_email``, ``…_phone`` to a value, or
    None to leave it as it is.
    """
    unknown = set(changes) - set(CONTACT_FIELDS)
    if unknown:
        raise AuthError(f"unknown contact fields: {', '.join(sorted(unknown))}")
    values = {k: (v.strip() or None) if isinstance(v, str) else None for k, v in changes.items() if v is not None}
    _email("e-mail", values.get("email"))
    _email("emergency contact e-mail", values.get("emergency_contact_email"))
    for field, value in values.items():
        if value is not None and len(value) > 200:
            raise AuthError(f"{CONTACT_FIELDS[field]} must be at most 200 characters")
    if user.role != "escort" and any(values.get(f) for f in CONTACT_FIELDS if f != "email"):
        raise AuthError("only escorts have an emergency contact here")
    for field, value in values.items():
        setattr(user, field, value)
    session.add(user)
    record(session, by, "user_contact", object_type="user", object_id=user.id,
           detail={"username": user.username, "fields": sorted(values), "via": via})


def create_token(session: Session, user: User, *, expires_days: int | None, now: datetime, by: User | None,
                 via: str) -> str:
    """Create an API token for a user, audited; return it (shown once, stored hashed)."""
    if expires_days is not None and not 1 <= expires_days <= MAX_TOKEN_DAYS:
        raise AuthError(f"expiry must be a whole number of days from 1 to {MAX_TOKEN_DAYS}")
    if not user.is_active:
        raise AuthError(f"user {user.username!r} is disabled: enable them first")
    token = create_api_token(session, user, now=now, expires_days=expires_days)
    record(session, by, "token_create", object_type="user", object_id=user.id,
           detail={"username": user.username, "expires_days": expires_days, "via": via})
    return token


def last_logins(session: Session) -> dict[int, datetime]:
    """Return each user's latest login time, by user id."""
    rows = session.exec(select(LoginSession.user_id, func.max(LoginSession.created_at))
                        .group_by(LoginSession.user_id)).all()
    return {user_id: at for user_id, at in rows}
