"""Thin /device handlers: authenticate, parse, call one service, acknowledge."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any

from flask import current_app, g, request
from flask_login import current_user
from flask_socketio import ConnectionRefusedError, join_room

from app.db import DB_DOWN, MAX_ROW_ID, session_scope, utcnow
from app.models import User
from app.realtime import DEVICE_NS, Credential, Undecodable, escort_room, fanout, riders, socketio
from dispatch import ingest, present, service, trips
from dispatch.models import Trip
from tracking import devices
from tracking.models import Device
from tracking.schemas import MAX_BATCH, batch_too_large, raw_seq

log = logging.getLogger(__name__)

# sid -> (device id, escort user id or None); the connection lives in this process only.
_connections: dict[str, tuple[int, int | None]] = {}

DB_DOWN_ERROR = "database unavailable, send again later"
SERVER_ERROR = "server error, send again later"


def _engine():
    """Return the app's database engine."""
    return current_app.extensions["escort"].engine


@socketio.on("connect", namespace=DEVICE_NS)
def on_connect(auth: Any = None):
    """Accept a device token, or an escort's logged-in session (the tablet page)."""
    token = auth.get("token") if isinstance(auth, dict) else None
    try:
        device_id, user_id, credential = _authenticate(token)
    except DB_DOWN:
        raise ConnectionRefusedError(DB_DOWN_ERROR) from None
    expected = auth.get("user_id") if isinstance(auth, dict) else None
    if not token and expected is not None and expected != user_id:
        # A tablet page left open across a change of login: its queue is another escort's.
        raise ConnectionRefusedError("this page belongs to another escort's login; reload it")
    _connections[request.sid] = (device_id, user_id)
    riders.remember(request.sid, DEVICE_NS, credential)
    if user_id is not None:
        join_room(escort_room(user_id))
    fanout.connected["device"] += 1
    current_app.extensions["escort"].start_background()


def _retry_when_db_down(handler: Callable) -> Callable:
    """Answer ``{"ok": false, "error", "retry": true}`` when the database is away, never no ack;
    answer an unreadable payload with ``{"ok": false, "error"}`` before the handler runs."""

    @functools.wraps(handler)
    def wrapped(data: Any = None, *args, **kwargs):
        if isinstance(data, Undecodable):
            return {"ok": False, "error": data.error()}
        try:
            return handler(data, *args, **kwargs)
        except DB_DOWN:
            return {"ok": False, "error": DB_DOWN_ERROR, "retry": True}

    return wrapped


def _authenticate(token: Any) -> tuple[int, int | None, Credential]:
    """Return (device id, escort user id, what it rode on) for a device token or the escort's session, or refuse."""
    with session_scope(_engine()) as session:
        if token:
            device = devices.device_for_token(session, token)
            if device is None:
                raise ConnectionRefusedError("unknown or revoked device token")
            return device.id, device.escort_user_id, Credential("device", device.id)
        if current_user.is_authenticated and current_user.role == "escort":
            device = devices.tablet_for(session, current_user, now=utcnow())
            return device.id, current_user.id, Credential("login", g.login_session_id)
        raise ConnectionRefusedError("a device token or an escort's login is required")


@socketio.on("disconnect", namespace=DEVICE_NS)
def on_disconnect(*_args):
    """Forget the connection."""
    riders.forget(request.sid, DEVICE_NS)
    if _connections.pop(request.sid, None) is not None:
        fanout.connected["device"] -= 1


def _ingest(app, sid: str, raws: list) -> ingest.IngestResult:
    """Run payloads through the pipeline for this connection's device."""
    device = devices.DeviceRef(*_connections[sid])
    ext = app.extensions["escort"]
    # Committed in one transaction with other devices' concurrent fixes; returns once committed.
    return ingest.accept_grouped(ext.engine, device, raws, now=utcnow(), limits=ext.limits,
                                 trip_cache=ext.active_trips, zone_cache=ext.zones)


# ``fix`` and ``fixes`` are the hot path: hundreds of messages a second. They are registered
# on the Socket.IO server itself (``register_hot_handlers``), not through Flask-SocketIO,
# which opens a Flask request context and a copy of the login session for every message;
# these handlers use neither: the connection's device was settled at connect.


def _app_for(sid: str):
    """Return the Flask app serving this connection, or None if the connection is gone."""
    environ = socketio.server.get_environ(sid, namespace=DEVICE_NS)
    return environ.get("flask.app") if environ else None


def on_fix(sid: str, data: Any = None):
    """Store one fix; ack ``{"ok", "seq"}`` or ``{"ok": false, "seq", "error"}`` (+ ``"retry": true``)."""
    if isinstance(data, Undecodable):
        return {"ok": False, "seq": None, "error": data.error()}
    app = _app_for(sid)
    if app is None or sid not in _connections:
        return {"ok": False, "seq": raw_seq(data), "error": "not connected"}
    try:
        result = _ingest(app, sid, [data])
    except DB_DOWN:
        return {"ok": False, "seq": raw_seq(data), "error": DB_DOWN_ERROR, "retry": True}
    except Exception:  # noqa: BLE001  (the device is told to send again; nothing was acknowledged)
        log.exception("ingest failed")
        return {"ok": False, "seq": raw_seq(data), "error": SERVER_ERROR, "retry": True}
    if result.rejected:
        return {"ok": False, **result.rejected[0]}
    return {"ok": True, "seq": result.accepted[0]}


def on_fixes(sid: str, data: Any = None):
    """Store a queued batch; ack the accepted seqs and the rejected ones with reasons."""
    if isinstance(data, Undecodable):
        return {"ok": False, "accepted": [], "rejected": [], "error": data.error()}
    if not isinstance(data, list):
        return {"ok": False, "accepted": [], "rejected": [], "error": "fixes must be a JSON list"}
    if len(data) > MAX_BATCH:  # refused whole, so the device knows to split it rather than drop it
        return {"ok": False, "accepted": [], "rejected": [], "error": batch_too_large(len(data))}
    app = _app_for(sid)
    if app is None or sid not in _connections:
        return {"ok": False, "accepted": [], "rejected": [], "error": "not connected"}
    try:
        result = _ingest(app, sid, data)
    except DB_DOWN:
        return {"ok": False, "accepted": [], "rejected": [], "error": DB_DOWN_ERROR, "retry": True}
    except Exception:  # noqa: BLE001  (as in on_fix)
        log.exception("ingest failed")
        return {"ok": False, "accepted": [], "rejected": [], "error": SERVER_ERROR, "retry": True}
    return {"ok": True, "accepted": result.accepted, "rejected": result.rejected}


def register_hot_handlers(server) -> None:
    """Register ``fix`` and ``fixes`` on the python-socketio server of a freshly initialised SocketIO."""
    server.on("fix", on_fix, namespace=DEVICE_NS)
    server.on("fixes", on_fixes, namespace=DEVICE_NS)


@socketio.on("status", namespace=DEVICE_NS)
@_retry_when_db_down
def on_status(data: Any = None):
    """Change the escort's own trip status; ack with the trip as the tablet shows it."""
    device_id, user_id = _connections[request.sid]
    if user_id is None:
        return {"ok": False, "error": "this device is not linked to an escort"}
    if not isinstance(data, dict) or not isinstance(data.get("status"), str):
        return {"ok": False, "error": "status must be {\"trip_id\": int, \"status\": str}"}
    with session_scope(_engine()) as session:
        user = session.get(User, user_id)
        trip_id = data.get("trip_id")  # a row id: not a bool (True is 1), not beyond the column (OverflowError)
        is_id = isinstance(trip_id, int) and not isinstance(trip_id, bool) and 0 < trip_id <= MAX_ROW_ID
        trip = session.get(Trip, trip_id) if is_id else None
        if trip is None or trip.escort_user_id != user_id:
            return {"ok": False, "error": "no such trip of yours"}
        try:
            service.set_status(session, trip, data["status"], user, now=utcnow(), pin=data.get("pin"))
        except trips.TripError as exc:
            return {"ok": False, "error": str(exc)}
        return {"ok": True, "trip": present.trip_for_escort(session, trip)}


@socketio.on("panic", namespace=DEVICE_NS)
@_retry_when_db_down
def on_panic(data: Any = None):
    """Raise a panic alert with the last position; the ack says nothing a bystander could read."""
    device_id, user_id = _connections[request.sid]
    data = data if isinstance(data, dict) else {}
    with session_scope(_engine()) as session:
        device = session.get(Device, device_id)
        service.panic(session, device, data, now=utcnow())
    return {"ok": True}


@socketio.on("checkin", namespace=DEVICE_NS)
@_retry_when_db_down
def on_checkin(data: Any = None):
    """Record a check-in; a duress PIN answers exactly as the safe PIN does."""
    device_id, user_id = _connections[request.sid]
    if user_id is None:
        return {"ok": False, "error": "this device is not linked to an escort"}
    pin = data.get("pin") if isinstance(data, dict) else None
    with session_scope(_engine()) as session:
        return service.checkin(session, user_id, pin, now=utcnow(), device_id=device_id)


@socketio.on("set_pins", namespace=DEVICE_NS)
@_retry_when_db_down
def on_set_pins(data: Any = None):
    """Set the escort's safe and duress PINs (the current PIN is needed to change them)."""
    device_id, user_id = _connections[request.sid]
    if user_id is None or not isinstance(data, dict):
        return {"ok": False, "error": "send {\"current\"?, \"safe\", \"duress\"} from an escort's device"}
    with session_scope(_engine()) as session:
        return service.change_pins(session, user_id, data, now=utcnow(), device_id=device_id)
