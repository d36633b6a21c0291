"""Thin Socket.IO handlers of the line: ``message``, ``messages_read`` and ``duty`` on /device, and the first two on /dispatch."""

from __future__ import annotations

from typing import Any

from flask import current_app, request

from app.db import MAX_ROW_ID, session_scope, utcnow
from app.models import User
from app.realtime import DEVICE_NS, DISPATCH_NS, socketio
from dispatch import line
from dispatch import sockets as dispatch_sockets
from dispatch.models import Trip
from dispatch import access
from dispatch import device_sockets
from dispatch.device_sockets import _retry_when_db_down


def _engine():
    """Return the app's database engine."""
    return current_app.extensions["escort"].engine


def _trip_id(data: Any) -> int | None:
    """Return the payload's ``trip_id`` when it can name a row (not a bool, not beyond the column)."""
    trip_id = data.get("trip_id") if isinstance(data, dict) else None
    ok = isinstance(trip_id, int) and not isinstance(trip_id, bool) and 0 < trip_id <= MAX_ROW_ID
    return trip_id if ok else None


def _act(user_id: int | None, data: Any, action) -> dict:
    """Run ``action(session, trip, user)`` for a trip the user may see; answer the ack."""
    if user_id is None:
        return {"ok": False, "error": "this connection is not an escort's or a dispatcher's"}
    if not isinstance(data, dict):
        return {"ok": False, "error": "send a JSON object with trip_id"}
    with session_scope(_engine()) as session:
        user = session.get(User, user_id)
        trip_id = _trip_id(data)
        trip = session.get(Trip, trip_id) if trip_id else None
        if user is None or trip is None or not access.can_see_trip(session, user, trip):
            return {"ok": False, "error": "no such trip of yours"}
        try:
            return {"ok": True, **action(session, trip, user)}
        except line.LineError as exc:
            return {"ok": False, "error": str(exc)}


def _send(data: Any):
    """Return the action that writes ``data["text"]`` on the trip's line."""
    text = data.get("text") if isinstance(data, dict) else None
    return lambda session, trip, user: {"message": line.send(session, trip, user, text, now=utcnow())}


def _read(data: Any):
    """Return the action that marks the other side's messages up to ``data["up_to"]`` read."""
    up_to = data.get("up_to") if isinstance(data, dict) else None
    return lambda session, trip, user: {"read": line.read(session, trip, user, up_to, now=utcnow())}


def _escort_of(sid: str) -> int | None:
    """Return the escort user id of a /device connection (None for a device linked to no escort)."""
    return device_sockets._connections.get(sid, (None, None))[1]


@socketio.on("message", namespace=DEVICE_NS)
@_retry_when_db_down
def on_device_message(data: Any = None):
    """Write on the trip's line from the escort's device; ack ``{"ok", "message"}``."""
    return _act(_escort_of(request.sid), data, _send(data))


@socketio.on("messages_read", namespace=DEVICE_NS)
@_retry_when_db_down
def on_device_read(data: Any = None):
    """Mark dispatch's messages up to ``up_to`` as displayed on the tablet."""
    return _act(_escort_of(request.sid), data, _read(data))


@socketio.on("duty", namespace=DEVICE_NS)
@_retry_when_db_down
def on_duty(data: Any = None):
    """Switch the escort on or off duty (persisted); ack whether their position is now shared."""
    user_id = _escort_of(request.sid)
    if user_id is None:
        return {"ok": False, "error": "this device is not linked to an escort"}
    on = data.get("on") if isinstance(data, dict) else None
    with session_scope(_engine()) as session:
        user = session.get(User, user_id)
        try:
            shared = line.set_duty(session, user, on, via="tablet")
        except line.LineError as exc:
            return {"ok": False, "error": str(exc)}
        session.commit()
        payload = line.duty_public(session, user, shared)
    current_app.extensions["escort"].active_trips.forget()
    line.emit_duty(payload)
    return {"ok": True, "on": on, "sharing": shared}


@socketio.on("message", namespace=DISPATCH_NS)
@_retry_when_db_down
def on_dispatch_message(data: Any = None):
    """Write on a trip's line from the dispatcher's page; ack ``{"ok", "message"}``."""
    return _act(dispatch_sockets.users.get(request.sid), data, _send(data))


@socketio.on("messages_read", namespace=DISPATCH_NS)
@_retry_when_db_down
def on_dispatch_read(data: Any = None):
    """Mark the escort's messages up to ``up_to`` as displayed to dispatch."""
    return _act(dispatch_sockets.users.get(request.sid), data, _read(data))
