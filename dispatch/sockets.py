"""Thin /dispatch handlers: dispatchers and admins, by session or API token.

Care coordinators are refused: the live feed carries every patient's pickup and position,
and coordinators review trips afterwards (the trip logs), seeing only their caseload.
"""

from __future__ import annotations

from typing import Any

from flask import current_app, g, request
from flask_login import current_user
from flask_socketio import ConnectionRefusedError, emit, join_room

from app.auth import token_and_user
from app.db import session_scope, utcnow
from app.realtime import DISPATCH_NS, DISPATCHERS_ROOM, Credential, fanout, riders, socketio
from dispatch import present

WATCHERS = ("admin", "dispatcher")
_watchers: set[str] = set()
# sid -> the user id of this process's dispatcher connections (they write on trips' lines).
users: dict[str, int] = {}


@socketio.on("connect", namespace=DISPATCH_NS)
def on_connect(auth: Any = None):
    """Accept a dispatcher's session or API token; send the snapshot."""
    token = auth.get("token") if isinstance(auth, dict) else None
    ext = current_app.extensions["escort"]
    with session_scope(ext.engine) as session:
        if token:
            found = token_and_user(session, token)
            role, credential = (found[1].role, Credential("api", found[0].id)) if found else (None, None)
            user_id = found[1].id if found else None
        elif current_user.is_authenticated:
            role, credential = current_user.role, Credential("login", g.login_session_id)
            user_id = current_user.id
        else:
            role = credential = user_id = None
        if role not in WATCHERS:
            raise ConnectionRefusedError("a dispatcher's login or API token is required "
                                     "(care coordinators review trips in the trip logs)")
        snap = present.snapshot(session, now=utcnow())
    join_room(DISPATCHERS_ROOM)
    riders.remember(request.sid, DISPATCH_NS, credential)
    _watchers.add(request.sid)
    users[request.sid] = user_id
    fanout.connected["dispatch"] += 1
    ext.start_background()
    emit("snapshot", snap)


@socketio.on("disconnect", namespace=DISPATCH_NS)
def on_disconnect(*_args):
    """Forget the connection."""
    riders.forget(request.sid, DISPATCH_NS)
    users.pop(request.sid, None)
    if request.sid in _watchers:
        _watchers.discard(request.sid)
        fanout.connected["dispatch"] -= 1
