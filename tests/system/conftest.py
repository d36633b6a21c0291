"""System tests: real gunicorn processes on a PostgreSQL database of their own, Redis, faults.

They run once, in the PostgreSQL pass (``ESCORT_TEST_DATABASE_URL`` set, as ``.ci/run`` does):
each test creates its own database on that server, so the shared ``test`` database and
parallel runs are never touched, and drops it afterwards.
"""

from __future__ import annotations

import os
import secrets
import socket
import struct
import threading
import time
import uuid
from contextlib import ExitStack, contextmanager
from typing import Self

import pytest
import socketio as sio
from sqlalchemy.engine import make_url

from app import create_app
from app.db import upgrade
from app.times import iso_z
from tests.conftest import make_config, require
from tests.live import LiveServer

REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379


def pg_server_url() -> str:
    """Return the PostgreSQL pass's URL, or skip: these tests run in that pass only."""
    url = os.environ.get("ESCORT_TEST_DATABASE_URL", "")
    if not url.startswith("postgresql"):
        pytest.skip("system tests run once, in the PostgreSQL pass (set ESCORT_TEST_DATABASE_URL)")
    return url


def port_open(host: str, port: int) -> bool:
    """Say whether something accepts TCP connections at host:port."""
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def require_redis() -> None:
    """Skip (fail under CI) when the machine's Redis is not there."""
    require(port_open(REDIS_HOST, REDIS_PORT), f"Redis is not running on {REDIS_HOST}:{REDIS_PORT}")


def redis_channel() -> str:
    """Return a Socket.IO channel of this run's own (Redis channels are shared by every db number)."""
    return f"escort-test-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def own_database():
    """Create a PostgreSQL database for this test alone; yield its SQLAlchemy URL; drop it after."""
    import psycopg

    server = make_url(pg_server_url())
    name = f"escort_sys_{secrets.token_hex(6)}"
    admin = server.set(drivername="postgresql", database="postgres").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True, connect_timeout=5) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(admin, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def app(own_database, tmp_path):
    """Return an in-process app on this test's own migrated database (overrides tests/conftest.py)."""
    app = create_app(make_config(tmp_path, database_url=own_database))
    engine = app.extensions["escort"].engine
    upgrade(engine)
    yield app
    engine.dispose()


class TcpProxy:
    """A TCP relay to ``target`` that a test can cut (every connection reset, new ones refused),
    freeze (bytes held, nothing answered: a network partition with no reset), and restore."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()
        self._cut = False
        self._frozen = False
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def cut(self) -> None:
        """Reset every relayed connection and refuse new ones, as a dead server would."""
        with self._lock:
            self._cut = True
            conns, self._open = self._open, set()
        for conn in conns:
            _reset(conn)

    def freeze(self) -> None:
        """Hold every byte in both directions, on open connections and new ones, until restored."""
        self._frozen = True

    def restore(self) -> None:
        """Relay again: new connections after a cut, the held bytes after a freeze."""
        with self._lock:
            self._cut = False
        self._frozen = False

    def close(self) -> None:
        """Stop listening and drop everything."""
        self._closed = True
        self.cut()
        self._listener.close()

    def _accept(self) -> None:
        """Accept clients; relay each to the target unless the link is cut."""
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                cut = self._cut
            if cut:
                _reset(client)
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=2)
                upstream.settimeout(None)
            except OSError:
                _reset(client)
                continue
            with self._lock:
                self._open.update((client, upstream))
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(src, dst), daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket) -> None:
        """Copy bytes one way until either side closes."""
        try:
            while data := src.recv(65536):
                while self._frozen and not self._closed:
                    time.sleep(0.02)
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for conn in (src, dst):
                with self._lock:
                    self._open.discard(conn)
                _reset(conn)


def _reset(conn: socket.socket) -> None:
    """Drop a connection at once: shut it down (which wakes a thread blocked reading it), then reset it."""
    for step in (lambda: conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)),
                 lambda: conn.shutdown(socket.SHUT_RDWR), conn.close):
        try:
            step()
        except OSError:
            pass


class Dispatcher:
    """A real Socket.IO dispatcher client that records what it is sent."""

    def __init__(self, url: str, token: str, transports: tuple[str, ...] = ("websocket",)) -> None:
        self.positions: list[dict] = []
        self.arrived: dict[tuple[int, int], float] = {}  # (device_id, seq) -> monotonic time of receipt
        self.alerts: list[dict] = []
        self.client = sio.Client(reconnection=False)
        self.client.on("positions", self._positions, namespace="/dispatch")
        self.client.on("alert", self.alerts.append, namespace="/dispatch")
        self.client.connect(url, namespaces=["/dispatch"], auth={"token": token}, transports=list(transports),
                            wait_timeout=10)

    def _positions(self, data: dict) -> None:
        """Record a batch of positions and when it came."""
        now = time.monotonic()
        self.positions.extend(data["fixes"])
        for fix in data["fixes"]:
            self.arrived.setdefault((fix["device_id"], fix["seq"]), now)

    def close(self) -> None:
        """Disconnect."""
        self.client.disconnect()


def device_client(url: str, token: str) -> sio.Client:
    """Connect a device to one process over a real WebSocket."""
    client = sio.Client(reconnection=False)
    client.connect(url, namespaces=["/device"], auth={"token": token}, transports=["websocket"], wait_timeout=10)
    return client


def wait_for(predicate, timeout_s: float, what: str):
    """Poll until ``predicate`` is truthy; fail naming ``what`` after the timeout."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if value := predicate():
            return value
        time.sleep(0.05)
    pytest.fail(f"timed out after {timeout_s} s waiting for {what}")


@contextmanager
def two_processes(app, tmp_path, redis_url: str = f"redis://{REDIS_HOST}:{REDIS_PORT}/0", **env: str):
    """Start processes A and B on the test's database, sharing Redis on a channel of this test's own."""
    require_redis()
    url = app.extensions["escort"].engine.url.render_as_string(hide_password=False)
    shared = dict(REDIS_URL=redis_url, ESCORT_REDIS_CHANNEL=redis_channel(), **env)
    with ExitStack() as stack:
        yield [stack.enter_context(LiveServer(url, tmp_path, **shared)) for _ in range(2)]


def payload(fix) -> dict:
    """Return a simulated fix as the device sends it."""
    return {"seq": fix.seq, "lat": fix.lat, "lon": fix.lon, "ts": iso_z(fix.ts), "accuracy_m": fix.accuracy_m,
            "speed_mps": fix.speed_mps}


def database_url_via(url: str, proxy: TcpProxy) -> str:
    """Return ``url`` pointed at the proxy instead of the PostgreSQL server."""
    return make_url(url).set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)


def pg_target(url: str) -> tuple[str, int]:
    """Return (host, port) of the PostgreSQL server in ``url``."""
    parsed = make_url(url)
    return parsed.host or "127.0.0.1", parsed.port or 5432
