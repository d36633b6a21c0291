"""Thin /dispatch handlers: dispatchers and admins, by session or API token.

Care coordinators are refused: the live feed carries every patient's pickup and position,
and coordinators review trips afterwards (the trip logs), seeing only their caseload.
"""

from __future__ import annotations

from typing import Any

from flask import current_app, request
from flask_login import current_user
from flask_socketio import ConnectionRefusedError, emit, join_room

from app.auth import user_for_api_token
from app.db import session_scope, utcnow
from app.realtime import DISPATCH_NS, DISPATCHERS_ROOM, fanout, socketio
from dispatch import present

WATCHERS = ("admin", "dispatcher")
_watchers: set[str] = set()


@socketio.on("connect", namespace=DISPATCH_NS)
def on_connect(auth: Any = None):
    """Accept a dispatcher's session or API token; send the snapshot."""
    token = auth.get("token") if isinstance(auth, dict) else None
    ext = current_app.extensions["escort"]
    with session_scope(ext.engine) as session:
        if token:
            user = user_for_api_token(session, token) if isinstance(token, str) else None
            role = user.role if user else None
        else:
            role = current_user.role if current_user.is_authenticated else None
        if role not in WATCHERS:
            raise ConnectionRefusedError("a dispatcher's login or API token is required "
                                     "(care coordinators review trips in the trip logs)")
        snap = present.snapshot(session, now=utcnow())
    join_room(DISPATCHERS_ROOM)
    _watchers.add(request.sid)
    fanout.connected["dispatch"] += 1
    ext.start_background()
    emit("snapshot", snap)


@socketio.on("disconnect", namespace=DISPATCH_NS)
def on_disconnect(*_args):
    """Forget the connection."""
    if request.sid in _watchers:
        _watchers.discard(request.sid)
        fanout.connected["dispatch"] -= 1
