"""Users, roles, login, API and device tokens, and the role checks every entry point uses."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta
from functools import wraps
from typing import Callable

from urllib.parse import urlsplit

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    g,
    has_request_context,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask import session as cookie
from flask_login import LoginManager, current_user, login_user, logout_user
from flask_wtf.csrf import CSRFProtect
from sqlmodel import Session, select
from werkzeug.security import check_password_hash, generate_password_hash

from app import logins
from app.audit import record
from app.db import request_session, utcnow
from app.models import ROLES, ApiToken, User
from app.realtime import Credential, riders

login_manager = LoginManager()
# CSRF protection of the forms and of requests riding on the login cookie (bound by the factory).
csrf = CSRFProtect()
login_manager.login_view = "auth.login"
bp = Blueprint("auth", __name__)

MAX_FAILED_LOGINS = 5
LOCKOUT = timedelta(minutes=15)
# An API token's last_used_at is written at most this often: a script calling every second
# must not cost a write per call.
TOKEN_TOUCH_EVERY = timedelta(seconds=60)
# The signed cookie's key naming its open LoginSession row (app/logins.py).
SESSION_KEY = "login_key"
# A constant hash to compare against when the user does not exist, so that
# "no such user" and "wrong password" take the same time.
_DUMMY_HASH = generate_password_hash(secrets.token_hex(8))


class AuthError(ValueError):
    """A user, role or credential was refused; the message is safe to show."""


def hash_token(token: str) -> str:
    """Return the SHA-256 hex of a token (tokens are random, so a fast hash is right)."""
    return hashlib.sha256(token.encode()).hexdigest()


def new_token(prefix: str) -> str:
    """Return a new random token with a prefix that says what it is for."""
    return f"{prefix}_{secrets.token_urlsafe(32)}"


def hash_secret(secret: str) -> str:
    """Hash a password or PIN with werkzeug's default scrypt."""
    return generate_password_hash(secret)


def check_secret(stored_hash: str | None, candidate: str) -> bool:
    """Compare a candidate against a stored hash, in constant time where it matters."""
    return check_password_hash(stored_hash or _DUMMY_HASH, candidate) and stored_hash is not None


def create_user(session: Session, username: str, role: str, password: str | None, *, now: datetime) -> User:
    """Create a user with a role; refuse unknown roles and taken names."""
    username = (username or "").strip()
    if not username or len(username) > 80:
        raise AuthError("user name must be 1 to 80 characters")
    if role not in ROLES:
        raise AuthError(f"unknown role {role!r}; choose one of {', '.join(ROLES)}")
    if session.exec(select(User).where(User.username == username)).first():
        raise AuthError(f"user {username!r} already exists")
    if password is not None and len(password) < 8:
        raise AuthError("password must be at least 8 characters")
    user = User(
        username=username,
        role=role,
        password_hash=hash_secret(password) if password else None,
        created_at=now,
    )
    session.add(user)
    session.flush()
    return user


def find_user(session: Session, username: str) -> User:
    """Return the user by name or raise AuthError."""
    user = session.exec(select(User).where(User.username == username)).first()
    if user is None:
        raise AuthError(f"no user named {username!r}")
    return user


def authenticate(session: Session, username: str, password: str, *, now: datetime) -> User | None:
    """Check a login; count failures and lock the account for a while after too many.

    The password hash runs on every attempt, so a locked, disabled or unknown account
    answers in the same time as a wrong password and tells nothing about the account.
    """
    user = session.exec(select(User).where(User.username == username)).first()
    matches = check_secret(user.password_hash if user else None, password)
    if user is None:
        return None
    if user.locked_until is not None and user.locked_until > now:
        return None
    if not user.is_active or not matches:
        user.failed_logins += 1
        if user.failed_logins >= MAX_FAILED_LOGINS:
            user.locked_until = now + LOCKOUT
            user.failed_logins = 0

            record(session, user, "account_locked", object_type="user", object_id=user.id,
                   detail={"until": user.locked_until.isoformat()})
        return None
    user.failed_logins = 0
    user.locked_until = None
    return user


def create_api_token(session: Session, user: User, *, now: datetime, expires_days: int | None = None) -> str:
    """Create an API token for a user and return it (only its hash is kept); it may expire."""
    token = new_token("esk")
    expires_at = now + timedelta(days=expires_days) if expires_days else None
    session.add(ApiToken(user_id=user.id, token_hash=hash_token(token), created_at=now, expires_at=expires_at))
    session.flush()
    return token


def token_and_user(session: Session, token: object, *, now: datetime | None = None) -> tuple[ApiToken, User] | None:
    """Return the live API token (not revoked, not expired, of an active user) and its user, or None.

    Its last_used_at moves to ``now`` at most once a minute (flushed with the caller's session).
    """
    if not isinstance(token, str) or not token or len(token) > 200:
        return None
    now = now or utcnow()
    row = session.exec(
        select(ApiToken, User)
        .join(User, ApiToken.user_id == User.id)
        .where(ApiToken.token_hash == hash_token(token), ApiToken.revoked_at.is_(None))
    ).first()
    if row is None or not row[1].is_active or (row[0].expires_at is not None and row[0].expires_at <= now):
        return None
    if row[0].last_used_at is None or now - row[0].last_used_at >= TOKEN_TOUCH_EVERY:
        row[0].last_used_at = now
    return row


def user_for_api_token(session: Session, token: str, *, now: datetime | None = None) -> User | None:
    """Return the active user a live API token belongs to, or None."""
    found = token_and_user(session, token, now=now)
    return found[1] if found else None


def bearer_token() -> str | None:
    """Return the bearer token of the current request, if any."""
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return None


def request_user() -> User | None:
    """Return the user of this request: a bearer token first, then the login session."""
    if "api_user" in g:
        return g.api_user
    token = bearer_token()
    if token is not None:

        db = request_session()
        g.api_user = user_for_api_token(db, token)
        db.commit()  # the token's last_used_at, when due; nothing else is pending this early
        return g.api_user
    return current_user if current_user.is_authenticated else None


def api_roles(*roles: str) -> Callable:
    """Guard a JSON endpoint: 401 without credentials, 403 for another role."""

    def wrap(view):
        @wraps(view)
        def guarded(*args, **kwargs):
            user = request_user()
            if user is None:
                return jsonify(error="authentication required"), 401
            if user.role not in roles:
                return jsonify(error="your role may not do this"), 403
            g.user = user
            return view(*args, **kwargs)

        return guarded

    return wrap


def page_roles(*roles: str) -> Callable:
    """Guard an HTML page: to the login page without a session, 403 for another role."""

    def wrap(view):
        @wraps(view)
        def guarded(*args, **kwargs):
            if not current_user.is_authenticated:
                return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
            if current_user.role not in roles:
                abort(403)
            g.user = current_user
            return view(*args, **kwargs)

        return guarded

    return wrap


@login_manager.user_loader
def _load_user(user_id: str) -> User | None:
    """Load the cookie's user while its login session is open; end it here if it went idle.

    A request with a bearer token authenticates by the token alone: its cookie is ignored.
    """


    if has_request_context() and bearer_token() is not None:
        return None
    db = request_session()
    found = logins.find_open(db, cookie.get(SESSION_KEY))
    if found is None or str(found[1].id) != user_id or not found[1].is_active:
        return None
    row, user = found
    now = utcnow()
    if logins.is_idle(row, user, now=now, idle_logout_s=current_app.extensions["escort"].config.idle_logout_s):
        _end_login_session(db, row, user, "idle", now=now)
        g.idle_logged_out = True
        return None
    if logins.touch(row, now=now):
        db.commit()
    g.login_session_id = row.id
    return user


def _end_login_session(db: Session, row, user: User, reason: str, *, now: datetime) -> None:
    """End one login session, audit it, and drop this process's sockets that rode on it."""

    if logins.end(db, [row.id], reason, now=now):
        detail = {"idle_s": round((now - row.last_seen_at).total_seconds())} if reason == "idle" else None
        record(db, user, "logout_idle" if reason == "idle" else "logout", object_type="login_session",
               object_id=row.id, detail=detail)
    db.commit()
    riders.drop([Credential("login", row.id)])


def home_for(user: User) -> str:
    """Return the page a user lands on after login."""
    if user.role == "escort":
        return url_for("tracking.escort_page")
    if user.role == "coordinator":
        return url_for("logs.trip_list")
    return url_for("dispatch.live_map")


def _safe_next(target: str | None) -> str | None:
    """Accept only a same-origin relative path as the post-login target (no open redirect).

    Browsers drop tabs and newlines from URLs and read a backslash as a slash, so
    ``/\t/evil.example`` would leave the site: any control character or backslash is refused,
    then the path must parse with no scheme and no host, and not start with ``//``.
    """
    if not target or not isinstance(target, str) or len(target) > 2000:
        return None
    if "\\" in target or any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in target):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    return target


@bp.route("/login", methods=["GET", "POST"])
def login():
    """Show the login form (GET, HEAD) and log the user in (POST only)."""

    if request.method != "POST":
        return render_template("auth/login.html", next=_safe_next(request.args.get("next")) or "", error=None)
    csrf.protect()
    session = request_session()
    now = utcnow()
    next_page = _safe_next(request.form.get("next")) or ""
    if logins.throttled(session, request.remote_addr, now=now):
        error = "Too many failed logins from your address: wait 15 minutes, then try again."
        return render_template("auth/login.html", next=next_page, error=error), 429
    username = request.form.get("username", "").strip()
    user = authenticate(session, username, request.form.get("password", ""), now=now)
    record(session, user, "login" if user else "login_failed", detail={"username": username[:80]})
    storm = logins.lock_storm(session, now=now) if user is None else None
    if user is None:
        session.commit()
        if storm:
            current_app.extensions["escort"].tell_supervisors(storm)
        error = "Wrong user name or password, or the account is locked for a while."
        return render_template("auth/login.html", next=next_page, error=error), 401

    previous = logins.find_open(session, cookie.get(SESSION_KEY))
    if previous is not None:  # a second login in this browser: the cookie's old session must not live on unseen
        logins.end(session, [previous[0].id], "replaced", now=now)
    key = logins.open_session(session, user, now=now, remote_addr=request.remote_addr)
    session.commit()
    login_user(user)

    cookie[SESSION_KEY] = key
    return redirect(next_page or home_for(user))


@bp.route("/logout", methods=["POST"])
def logout():
    """End this login session (not the user's others) and go back to the login page."""


    if current_user.is_authenticated:
        db = request_session()
        found = logins.find_open(db, cookie.get(SESSION_KEY))
        if found is not None:
            _end_login_session(db, found[0], found[1], "logout", now=utcnow())
    logout_user()
    cookie.pop(SESSION_KEY, None)
    return redirect(url_for("auth.login"))


def idle_check():
    """Answer a request whose staff session the loader just ended for inactivity.

    The loader decides idleness from the session's last_seen_at in the database, so a copied
    cookie idles out with the original; escorts are exempt (their tablet's panic button must
    keep working through a long trip, and the device has its own screen lock).
    """

    if request.endpoint == "static":
        return None
    current_user.is_authenticated  # noqa: B018  (loads the user: an idle session ends here)
    if not g.pop("idle_logged_out", False):
        return None
    cookie.pop(SESSION_KEY, None)
    if request.path.startswith("/api/"):
        return jsonify(error="logged out after inactivity: log in again"), 401
    flash("You were logged out after a period of inactivity.")
    return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))


@bp.get("/api/v1/session")
def session_info():
    """Say who this browser session is; the request itself counts as the user's activity.

    Staff pages that people watch rather than click (the live map) call this when the person
    moves the pointer or types, so a watched screen does not idle out while an unattended one
    does; and when their live connection is dropped, to learn whether the session has ended.
    """
    user = request_user()
    if user is None:
        return jsonify(error="not logged in: log in again"), 401
    idle_s = current_app.extensions["escort"].config.idle_logout_s
    session_idles = bearer_token() is None and user.role != "escort" and idle_s > 0
    return jsonify(user=user.username, role=user.role, idle_logout_s=idle_s if session_idles else None)


@bp.route("/")
def index():
    """Send a visitor to their home page, or to log in."""
    if current_user.is_authenticated:
        return redirect(home_for(current_user))
    return redirect(url_for("auth.login"))

