"""A bare Flask-SocketIO server to measure the pipeline against: ack a fix, emit it to dispatchers.

Served exactly as the app is: ``gunicorn -k gevent -w 1 benchmarks.echo_server:app``.
No authentication, no validation, no database: on ``fix`` it emits the fix to the
``dispatchers`` room of ``/dispatch`` and acknowledges it, nothing else.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, request
from flask_socketio import SocketIO, join_room

app = Flask(__name__)
socketio = SocketIO(app, async_mode="gevent", ping_interval=20, ping_timeout=20)

# sid -> device id given in the connect auth (the load generator sends the app's device ids).
_devices: dict[str, Any] = {}


@app.get("/healthz")
def healthz():
    """Answer so the benchmark knows the server is up."""
    return {"ok": True}


@socketio.on("connect", namespace="/device")
def on_device_connect(auth: Any = None):
    """Remember which device this connection speaks for."""
    _devices[request.sid] = auth.get("device_id") if isinstance(auth, dict) else None


@socketio.on("disconnect", namespace="/device")
def on_device_disconnect(*_args):
    """Forget the connection."""
    _devices.pop(request.sid, None)


@socketio.on("connect", namespace="/dispatch")
def on_dispatch_connect(auth: Any = None):
    """Put the dispatcher in the room that receives every fix."""
    join_room("dispatchers")


@socketio.on("fix", namespace="/device")
def on_fix(data: Any = None):
    """Emit the fix to every dispatcher and acknowledge it."""
    fix = {**data, "device_id": _devices.get(request.sid)} if isinstance(data, dict) else {"raw": data}
    socketio.emit("positions", {"fixes": [fix]}, namespace="/dispatch", to="dispatchers")
    return {"ok": True, "seq": fix.get("seq")}
