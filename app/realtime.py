"""The Socket.IO instance, room names, and the batched fan-out to dispatchers."""

from __future__ import annotations

import json
import logging
import re
import threading
from typing import Any, Callable, Iterable, NamedTuple

import orjson
from engineio import json as engineio_json
from flask_socketio import SocketIO
from socketio.packet import Packet

log = logging.getLogger(__name__)

socketio = SocketIO()


class Undecodable:
    """What a packet's data becomes when its JSON cannot be read (an integer of a hundred digits,
    nesting deeper than Python's recursion limit): handlers answer it with an error ack."""

    __slots__ = ("reason",)

    def __init__(self, reason: str) -> None:
        self.reason = reason

    def error(self) -> str:
        """Return the error an ack tells the sender."""
        return f"the message could not be read: {self.reason}"


# The event name at the head of an event packet's JSON array, read without parsing the rest.
_EVENT_NAME = re.compile(r'\[\s*"([A-Za-z_][A-Za-z0-9_]{0,63})"')


def _loads_or_undecodable(text: str) -> Any:
    """Parse packet JSON; JSON the decoder refuses becomes ``[event, Undecodable]``.

    python-socketio decodes a packet before any handler runs, so a refused payload was an
    exception in the server's log and no ack at all: the device never learnt what was wrong.
    With the event name kept, the event's own handler answers ``{"ok": false, "error"}``.
    """
    try:
        return engineio_json.loads(text)
    except RecursionError:
        reason = "JSON nested too deeply"
    except ValueError as exc:
        reason = str(exc)[:100] or "invalid JSON"
    match = _EVENT_NAME.match(text)
    return [match.group(1) if match else "undecodable", Undecodable(reason)]


class PacketJSON:
    """The JSON of Socket.IO packets: written by orjson, several times faster than the standard
    library (and the standard library where orjson refuses: integers beyond 64 bits,
    non-string keys); read by engine.io's own decoder, which keeps integers exact (orjson
    turns a long one into a float) and bounds their length."""

    loads = staticmethod(_loads_or_undecodable)

    @staticmethod
    def dumps(obj: Any, **kwargs) -> str:
        """Encode compactly (as the packets ask with ``separators``)."""
        try:
            return orjson.dumps(obj).decode()
        except TypeError:  # orjson.JSONEncodeError is a TypeError
            return json.dumps(obj, **kwargs)


class ServerPacket(Packet):
    """The server's Socket.IO packets, with ``PacketJSON``. A subclass, given to the server as
    its ``serializer``: python-socketio's ``json=`` option would patch the base class, and so
    every client in this process too (the tests' clients among them)."""

    json = PacketJSON


DEVICE_NS = "/device"
DISPATCH_NS = "/dispatch"
DISPATCHERS_ROOM = "dispatchers"


def escort_room(user_id: int) -> str:
    """Return the room of one escort's connections."""
    return f"escort:{user_id}"


class Fanout:
    """Collects accepted fixes and emits them to dispatchers as one batch per interval.

    The buffer only smooths delivery: the database is the record, and a dispatcher who
    (re)connects gets a fresh snapshot from it.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: list[dict] = []
        self._started = False
        self.interval_s = 0.25
        self.connected = {"device": 0, "dispatch": 0}

    def start(self, interval_s: float) -> None:
        """Start the background flusher once per process."""
        with self._lock:
            if self._started:
                return
            self._started = True
            self.interval_s = interval_s
        socketio.start_background_task(self._run)

    def clear(self) -> None:
        """Drop whatever is queued (a new app in this process starts with nothing pending)."""
        with self._lock:
            self._pending = []

    def add(self, fixes: list[dict]) -> None:
        """Queue fixes for the next batch."""
        if fixes:
            with self._lock:
                self._pending.extend(fixes)

    def flush(self) -> None:
        """Emit what is queued as one ``positions`` message."""
        with self._lock:
            batch, self._pending = self._pending, []
        if batch:
            socketio.emit("positions", {"fixes": batch}, namespace=DISPATCH_NS, to=DISPATCHERS_ROOM)

    def _run(self) -> None:
        """Flush forever, every interval; an emit failure never kills the loop."""
        while True:
            socketio.sleep(self.interval_s)
            try:
                self.flush()
            except Exception:  # noqa: BLE001  (e.g. the message queue is away; retry next tick)
                log.exception("positions fan-out failed")


fanout = Fanout()


class Credential(NamedTuple):
    """What a connection rode in on: a ``login`` session, an ``api`` token or a ``device`` token, by row id."""

    kind: str
    id: int


class Riders:
    """Which credential each connection of this process rode in on, so ending one drops its sockets.

    Only this process's connections are here: another process drops its own in its sweep,
    which reads from the database which credentials have ended.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_sid: dict[tuple[str, str], Credential] = {}

    def remember(self, sid: str, namespace: str, credential: Credential) -> None:
        """Note the credential a new connection rode in on."""
        with self._lock:
            self._by_sid[(sid, namespace)] = credential

    def forget(self, sid: str, namespace: str) -> None:
        """Forget a closed connection."""
        with self._lock:
            self._by_sid.pop((sid, namespace), None)

    def held(self) -> set[Credential]:
        """Return the credentials this process's connections ride on."""
        with self._lock:
            return set(self._by_sid.values())

    def drop(self, credentials: Iterable[Credential]) -> int:
        """Disconnect this process's connections that rode on any of ``credentials``; return how many."""
        gone = set(credentials)
        with self._lock:
            doomed = [key for key, cred in self._by_sid.items() if cred in gone]
        for sid, namespace in doomed:
            try:
                socketio.server.disconnect(sid, namespace=namespace)
            except Exception:  # noqa: BLE001  (the socket went on its own meanwhile)
                log.warning("could not drop socket %s on %s", sid, namespace, exc_info=True)
            self.forget(sid, namespace)
        return len(doomed)


riders = Riders()


def publish_ingest(result: Any, alert_public: Callable[[Any], dict]) -> None:
    """Hand an ingest result on: positions to the batcher, alerts to dispatchers at once."""
    fanout.add(result.stored)
    for alert in result.alerts:
        emit_alert(alert_public(alert))
    for notice in result.notices:
        if notice.get("escort_user_id") is not None:
            emit_to_escort(notice.get("event", "suggest"), notice["payload"], notice["escort_user_id"])


def emit_alert(payload: dict) -> None:
    """Send one alert change to every dispatcher."""
    socketio.emit("alert", payload, namespace=DISPATCH_NS, to=DISPATCHERS_ROOM)


def emit_places(payload: dict) -> None:
    """Send the hazard zones and flagged places in force to every dispatcher, after one of them changed."""
    socketio.emit("places", payload, namespace=DISPATCH_NS, to=DISPATCHERS_ROOM)


def emit_to_escort(event: str, payload: dict, escort_user_id: int) -> None:
    """Send an event to every connection of one escort (their tablet tabs and phones)."""
    socketio.emit(event, payload, namespace=DEVICE_NS, to=escort_room(escort_user_id))


def emit_trip(dispatch_payload: dict, escort_payload: dict | None, escort_user_id: int | None) -> None:
    """Send a trip change to dispatchers, and the escort's own view of it to the escort."""
    socketio.emit("trip", dispatch_payload, namespace=DISPATCH_NS, to=DISPATCHERS_ROOM)
    if escort_user_id is not None and escort_payload is not None:
        socketio.emit("trip", escort_payload, namespace=DEVICE_NS, to=escort_room(escort_user_id))
