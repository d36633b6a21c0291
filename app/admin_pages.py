"""The admin's pages for people and devices: thin views over app.accounts, dispatch.safety and tracking.devices."""

from __future__ import annotations

from datetime import datetime
from urllib.parse import urlencode

import segno
from flask import abort, flash, g, redirect, render_template, request, session as cookie, url_for
from sqlmodel import Session

from app import accounts, crypto
from app.admin import pages
from app.auth import AuthError, find_user, page_roles
from app.db import request_session, utcnow
from app.models import ROLES, User
from app.realtime import riders
from dispatch.safety import SafetyError, set_escort_pins
from tracking import devices

# The cookie key of a secret to show once after the redirect (sealed: the session cookie is only signed).
SHOWN_ONCE = "shown_once"
# Which form field a service's refusal is about, by the words its message uses; the first match wins.
CREATE_FIELDS = (("password", "password"), ("role", "role"), ("user", "username"))
PIN_FIELDS = (("duress", "duress_pin"), ("safe", "safe_pin"))
CONTACT_FIELDS = (("emergency contact name", "emergency_contact_name"),
                  ("emergency contact e-mail", "emergency_contact_email"),
                  ("emergency contact phone", "emergency_contact_phone"), ("own phone", "phone"),
                  ("emergency", "emergency_contact_name"),
                  ("e-mail", "email"))
DEVICE_FIELDS = (("label", "label"), ("escort", "escort"), ("user", "escort"))


def when(value: datetime | None) -> str:
    """Format a time for the admin pages, in UTC and saying so."""
    return value.strftime("%Y-%m-%d %H:%M UTC") if value else "never"


def _field(message: str, fields: tuple[tuple[str, str], ...], default: str) -> str:
    """Return the form field a refusal's message is about."""
    lowered = message.lower()
    return next((field for words, field in fields if words in lowered), default)


def _give_once(kind: str, **payload) -> None:
    """Keep a new secret for the next page only, sealed in the session cookie."""
    cookie[SHOWN_ONCE] = crypto.current().seal({"kind": kind, **payload})


def _take_once(kind: str) -> dict | None:
    """Take the secret kept for this page, if any: it is shown once."""
    sealed = cookie.get(SHOWN_ONCE)
    if not sealed:
        return None
    try:
        payload = crypto.current().open(sealed)
    except Exception:  # noqa: BLE001  (a cookie sealed under a retired key: nothing to show)
        payload = None
    if not isinstance(payload, dict) or payload.get("kind") != kind:
        return None
    cookie.pop(SHOWN_ONCE, None)
    return payload


def _user_or_404(session: Session, name: str) -> User:
    """Return the user named in the URL, or answer 404."""
    try:
        return find_user(session, name)
    except AuthError:
        abort(404)


def _users_view(session: Session, *, errors=None, values=None, status=200):
    """Render the users list with the create form."""
    rows = accounts.list_users(session, now=utcnow())
    return render_template("admin/users.html", users=rows, roles=ROLES, when=when, errors=errors or {},
                           values=values or {}), status


@pages.get("/users")
@page_roles("admin")
def users_page():
    """List every user, with the form to create one."""
    return _users_view(request_session())


@pages.post("/users")
@page_roles("admin")
def create_user_page():
    """Create a user from the form; back to the list with errors kept at the field."""
    session, form = request_session(), request.form
    values = {"username": form.get("username", "").strip(), "role": form.get("role", "")}
    try:
        user = accounts.add_user(session, values["username"], values["role"], form.get("password") or None,
                                 now=utcnow(), by=g.user, via="page")
    except AuthError as exc:
        session.rollback()
        return _users_view(session, errors={_field(str(exc), CREATE_FIELDS, "username"): str(exc)}, values=values,
                           status=400)
    session.commit()
    flash(f"Created {user.role} {user.username}.")
    return redirect(url_for("admin.user_page", name=user.username))


def _user_view(session: Session, user: User, *, form: str | None = None, errors=None, values=None, status=200):
    """Render one user's page: state, password, PINs, contact details and API tokens."""
    row = next(r for r in accounts.list_users(session, now=utcnow()) if r["id"] == user.id)
    token = _take_once("api_token") if form is None else None
    if token and token.get("user") != user.username:
        token = None
    return render_template("admin/user.html", user=user, row=row, tokens=accounts.list_tokens(session, user.username),
                           when=when, form=form, errors=errors or {}, values=values or {}, new_token=token,
                           me=g.user), status


@pages.get("/users/<name>")
@page_roles("admin")
def user_page(name: str):
    """Show one user and the forms that change them."""
    session = request_session()
    return _user_view(session, _user_or_404(session, name))


def _refused(session: Session, user: User, form: str, field: str, message: str, values=None, status=400):
    """Undo the attempt and show the user's page with the message at the top and at the field."""
    session.rollback()
    return _user_view(session, user, form=form, errors={field: message}, values=values, status=status)


def _state_change(name: str, action: str):
    """Confirm (GET) or do (POST) a disable or enable; the service refuses what may not be done."""
    session = request_session()
    user = _user_or_404(session, name)
    if request.method == "GET":
        return render_template("admin/confirm_user.html", user=user, action=action)
    try:
        if action == "disable":
            creds = accounts.disable_user(session, user, now=utcnow(), by=g.user, via="page")
        else:
            creds = accounts.enable_user(session, user, now=utcnow(), by=g.user, via="page") or []
    except AuthError as exc:
        return _refused(session, user, "state", "state", str(exc), status=409)
    session.commit()
    riders.drop(creds)
    flash(f"{'Disabled' if action == 'disable' else 'Enabled'} {user.username}."
          + (" Their sessions are ended and their API tokens refused." if action == "disable" else ""))
    return redirect(url_for("admin.user_page", name=user.username))


@pages.route("/users/<name>/disable", methods=["GET", "POST"])
@page_roles("admin")
def disable_user_page(name: str):
    """Ask to confirm disabling a user (GET); disable them (POST): sessions end, tokens stop."""
    return _state_change(name, "disable")


@pages.route("/users/<name>/enable", methods=["GET", "POST"])
@page_roles("admin")
def enable_user_page(name: str):
    """Ask to confirm enabling a user (GET); enable them and lift a lockout (POST)."""
    return _state_change(name, "enable")


@pages.post("/users/<name>/password")
@page_roles("admin")
def reset_password_page(name: str):
    """Set a new password from the form; the user's sessions end."""
    session = request_session()
    user = _user_or_404(session, name)
    try:
        creds = accounts.reset_password(session, user, request.form.get("password", ""), now=utcnow(), by=g.user,
                                        via="page")
    except AuthError as exc:
        return _refused(session, user, "password", "password", str(exc))
    session.commit()
    riders.drop(creds)
    flash(f"Password reset for {user.username}; {len(creds)} of their sessions ended.")
    return redirect(url_for("admin.user_page", name=user.username))


@pages.post("/users/<name>/pins")
@page_roles("admin")
def set_pins_page(name: str):
    """Set an escort's safe and duress PINs from the form."""
    session = request_session()
    user = _user_or_404(session, name)
    safe, duress = request.form.get("safe_pin", "").strip(), request.form.get("duress_pin", "").strip()
    try:
        set_escort_pins(session, user, safe, duress, by=g.user, via="page")
    except SafetyError as exc:
        return _refused(session, user, "pins", _field(str(exc), PIN_FIELDS, "safe_pin"), str(exc))
    session.commit()
    flash(f"PINs set for {user.username}.")
    return redirect(url_for("admin.user_page", name=user.username))


@pages.post("/users/<name>/contact")
@page_roles("admin")
def set_contact_page(name: str):
    """Set a user's e-mail and, for an escort, their emergency contact, from the form."""
    session = request_session()
    user = _user_or_404(session, name)
    changes = {field: request.form.get(field) for field in accounts.CONTACT_FIELDS if field in request.form}
    try:
        accounts.set_contact(session, user, changes, by=g.user, via="page")
    except AuthError as exc:
        return _refused(session, user, "contact", _field(str(exc), CONTACT_FIELDS, "email"), str(exc),
                        values={k: v or "" for k, v in changes.items()})
    session.commit()
    flash(f"Contact details saved for {user.username}.")
    return redirect(url_for("admin.user_page", name=user.username))


@pages.post("/users/<name>/tokens")
@page_roles("admin")
def create_token_page(name: str):
    """Create an API token for the user; it is shown once on their page."""
    session = request_session()
    user = _user_or_404(session, name)
    raw = request.form.get("expires_days", "").strip()
    if raw and not (raw.isascii() and raw.isdigit() and len(raw) < 6):
        return _refused(session, user, "token", "expires_days", "expiry must be a whole number of days, or empty",
                        values={"expires_days": raw})
    try:
        token = accounts.create_token(session, user, expires_days=int(raw) if raw else None, now=utcnow(),
                                      by=g.user, via="page")
    except AuthError as exc:
        return _refused(session, user, "token", "expires_days", str(exc), values={"expires_days": raw})
    session.commit()
    _give_once("api_token", user=user.username, token=token)
    return redirect(url_for("admin.user_page", name=user.username))


@pages.route("/tokens/<int:token_id>/revoke", methods=["GET", "POST"])
@page_roles("admin")
def revoke_token_page(token_id: int):
    """Ask to confirm revoking an API token (GET); revoke it (POST)."""
    session = request_session()
    token = next((t for t in accounts.list_tokens(session) if t["id"] == token_id), None)
    if token is None:
        abort(404)
    if request.method == "GET":
        return render_template("admin/confirm_token.html", token=token, when=when)
    try:
        cred = accounts.revoke_token(session, token_id, now=utcnow(), by=g.user, via="page")
    except AuthError as exc:
        session.rollback()
        flash(str(exc))
        return redirect(url_for("admin.user_page", name=token["user"]))
    session.commit()
    riders.drop([cred])
    flash(f"Revoked API token {token_id} of {token['user']}.")
    return redirect(url_for("admin.user_page", name=token["user"]))


def tracker_settings(label: str, token: str) -> dict:
    """Return what each tracker app needs for a new device (the README's "Tracker apps"), with the QR image."""
    osmand = url_for("tracking.osmand", _external=True)
    owntracks = url_for("tracking.owntracks", _external=True)
    # Traccar Client reads a QR code holding a URL: its origin and path become the server URL,
    # its query parameters the settings of the same names (``id`` is the device identifier).
    traccar_qr = f"{osmand}?{urlencode({'id': token})}"
    return {
        "traccar_url": osmand, "traccar_qr": traccar_qr,
        "traccar_qr_image": segno.make(traccar_qr, error="m").svg_data_uri(scale=5, border=4),
        "osmand": f"{osmand}?app=osmand&id={token}&lat={{0}}&lon={{1}}&timestamp={{2}}&hdop={{3}}&altitude={{4}}"
                  "&speed={5}&bearing={6}&batt={11}",
        "gpslogger": f"{osmand}?app=gpslogger&id={token}&lat=%LAT&lon=%LON&timestamp=%TIMESTAMP&acc=%ACC&spd=%SPD"
                     "&dir=%DIR&alt=%ALT&batt=%BATT",
        "owntracks": owntracks, "owntracks_user": label,
    }


def _devices_view(session: Session, *, errors=None, values=None, status=200):
    """Render the devices list with the enrol form and, once, a new device's token and settings."""
    enrolled = _take_once("device") if not errors else None
    apps = tracker_settings(enrolled["label"], enrolled["token"]) if enrolled else None
    escorts = [u["username"] for u in accounts.list_users(session, now=utcnow()) if u["role"] == "escort" and u["active"]]
    return render_template("admin/devices.html", devices=devices.list_devices(session), escorts=escorts, when=when,
                           errors=errors or {}, values=values or {}, enrolled=enrolled, apps=apps), status


@pages.get("/devices")
@page_roles("admin")
def devices_page():
    """List every device, with the form to enrol one."""
    return _devices_view(request_session())


@pages.post("/devices")
@page_roles("admin")
def enrol_device_page():
    """Enrol a device from the form; its token and app settings are shown once on the list."""
    session = request_session()
    values = {"label": request.form.get("label", "").strip(), "escort": request.form.get("escort", "").strip()}
    try:
        escort = find_user(session, values["escort"]) if values["escort"] else None
        device, token = devices.enrol_device(session, values["label"], escort, now=utcnow(), by=g.user, via="page")
    except (AuthError, devices.DeviceError) as exc:
        session.rollback()
        return _devices_view(session, errors={_field(str(exc), DEVICE_FIELDS, "label"): str(exc)}, values=values,
                             status=400)
    session.commit()
    _give_once("device", id=device.id, label=device.label, token=token)
    return redirect(url_for("admin.devices_page"))


@pages.route("/devices/<int:device_id>/revoke", methods=["GET", "POST"])
@page_roles("admin")
def revoke_device_page(device_id: int):
    """Ask to confirm revoking a device (GET); revoke its token (POST)."""
    session = request_session()
    try:
        device = devices.find_device(session, device_id=device_id)
    except devices.DeviceError:
        abort(404)
    if request.method == "GET":
        return render_template("admin/confirm_device.html", device=device, when=when)
    try:
        cred = devices.revoke_device(session, device, now=utcnow(), by=g.user, via="page")
    except devices.DeviceError as exc:
        session.rollback()
        flash(str(exc))
        return redirect(url_for("admin.devices_page"))
    session.commit()
    riders.drop([cred])
    flash(f"Revoked device {device.label}: its token is refused from now on.")
    return redirect(url_for("admin.devices_page"))
