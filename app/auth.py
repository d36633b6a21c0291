"""Users, roles, login, API and device tokens, and the role checks every entry point uses."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta
from functools import wraps
from typing import Callable

from flask import (
    Blueprint,
    abort,
    flash,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import LoginManager, current_user, login_user, logout_user
from sqlmodel import Session, select
from werkzeug.security import check_password_hash, generate_password_hash

from app.db import utcnow
from app.models import ROLES, ApiToken, User

login_manager = LoginManager()
login_manager.login_view = "auth.login"
bp = Blueprint("auth", __name__)

MAX_FAILED_LOGINS = 5
LOCKOUT = timedelta(minutes=15)
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
    """Check a login; count failures and lock the account for a while after too many."""
    user = session.exec(select(User).where(User.username == username)).first()
    if user is None:
        check_secret(None, password)
        return None
    if user.locked_until is not None and user.locked_until > now:
        return None
    if not user.is_active or not check_secret(user.password_hash, password):
        user.failed_logins += 1
        if user.failed_logins >= MAX_FAILED_LOGINS:
            user.locked_until = now + LOCKOUT
            user.failed_logins = 0
        return None
    user.failed_logins = 0
    user.locked_until = None
    return user


def create_api_token(session: Session, user: User, *, now: datetime) -> str:
    """Create an API token for a user and return it (only its hash is kept)."""
    token = new_token("esk")
    session.add(ApiToken(user_id=user.id, token_hash=hash_token(token), created_at=now))
    session.flush()
    return token


def user_for_api_token(session: Session, token: str) -> User | None:
    """Return the active user an API token belongs to, or None."""
    row = session.exec(
        select(User)
        .join(ApiToken, ApiToken.user_id == User.id)
        .where(ApiToken.token_hash == hash_token(token), ApiToken.revoked_at.is_(None))
    ).first()
    return row if row is not None and row.is_active else None


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
        from app.db import request_session

        g.api_user = user_for_api_token(request_session(), token)
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
    """Load the session's user for Flask-Login."""
    from app.db import request_session

    try:
        user = request_session().get(User, int(user_id))
    except ValueError:
        return None
    return user if user is not None and user.is_active else None


def home_for(user: User) -> str:
    """Return the page a user lands on after login."""
    if user.role == "escort":
        return url_for("tracking.escort_page")
    if user.role == "coordinator":
        return url_for("logs.trip_list")
    return url_for("dispatch.live_map")


def _safe_next(target: str | None) -> str | None:
    """Accept only a local path as the post-login target (no open redirect)."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return None


@bp.route("/login", methods=["GET", "POST"])
def login():
    """Show the login form and log the user in."""
    from app.audit import record
    from app.db import request_session

    if request.method == "GET":
        return render_template("auth/login.html", next=request.args.get("next", ""), error=None)
    from app import csrf

    csrf.protect()
    session = request_session()
    username = request.form.get("username", "").strip()
    user = authenticate(session, username, request.form.get("password", ""), now=utcnow())
    record(session, user, "login" if user else "login_failed", detail={"username": username[:80]})
    session.commit()
    if user is None:
        error = "Wrong user name or password, or the account is locked for a while."
        return render_template("auth/login.html", next=request.form.get("next", ""), error=error), 401
    login_user(user)
    from flask import session as cookie

    cookie["seen_at"] = utcnow().timestamp()
    return redirect(_safe_next(request.form.get("next")) or home_for(user))


@bp.route("/logout", methods=["POST"])
def logout():
    """Log out and go back to the login page."""
    from app.audit import record
    from app.db import request_session

    if current_user.is_authenticated:
        session = request_session()
        record(session, current_user, "logout")
        session.commit()
    logout_user()
    return redirect(url_for("auth.login"))


def idle_check(idle_logout_s: float):
    """Log a staff session out after ``idle_logout_s`` without a request; refresh the clock otherwise.

    Escorts are exempt: their tablet must keep its panic button and check-in working through
    a long trip, and the device has its own screen lock. A bearer token carries no session.
    """
    from flask import session as cookie

    if idle_logout_s <= 0 or request.headers.get("Authorization") or not current_user.is_authenticated:
        return None
    if current_user.role == "escort" or request.endpoint == "static":
        return None
    now = utcnow().timestamp()
    seen = cookie.get("seen_at")
    if isinstance(seen, (int, float)) and now - seen > idle_logout_s:
        from app.audit import record
        from app.db import request_session

        session = request_session()
        record(session, current_user, "logout_idle", detail={"idle_s": round(now - seen)})
        session.commit()
        logout_user()
        cookie.pop("seen_at", None)
        if request.path.startswith("/api/"):
            return jsonify(error="logged out after inactivity: log in again"), 401
        flash("You were logged out after a period of inactivity.")
        return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
    cookie["seen_at"] = now
    return None


@bp.route("/")
def index():
    """Send a visitor to their home page, or to log in."""
    if current_user.is_authenticated:
        return redirect(home_for(current_user))
    return redirect(url_for("auth.login"))

