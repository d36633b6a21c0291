"""A real server for end-to-end tests: gunicorn with the gevent worker on a free port."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def wait_until(predicate, timeout_s: float = 10.0, *, every_s: float = 0.05) -> bool:
    """Poll ``predicate()`` until it holds or ``timeout_s`` passes; say whether it held."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(every_s)
    return False


def free_port() -> int:
    """Return a free TCP port on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LiveServer:
    """Start ``gunicorn -k gevent -w 1`` on a database URL; stop it on exit."""

    def __init__(self, database_url: str, instance_path: Path, **env: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = dict(os.environ, DATABASE_URL=database_url, SECRET_KEY="live-test-secret-0123456789abcdef",
                        ESCORT_INSTANCE_PATH=str(instance_path), ESCORT_TILE_URL="", **env)
        self.log_path = instance_path / f"gunicorn-{self.port}.log"
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> "LiveServer":
        self.start()
        return self

    def start(self) -> None:
        """Start the server and wait until /healthz answers."""
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "gunicorn", "-k", "gevent", "-w", "1", "-b", f"127.0.0.1:{self.port}",
                 "--graceful-timeout", "2", "app:create_app()"],
                cwd=REPO, env=self.env, stdout=log, stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {self.log_path.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{self.url}/healthz", timeout=1) as resp:
                    if resp.status == 200:
                        return
            except OSError:
                time.sleep(0.1)
        self.crash()  # leave no server (master or worker) running behind a failed start
        raise RuntimeError(f"server did not start in 30 s: {self.log_path.read_text()[-2000:]}")

    def stop(self, kill: bool = False) -> None:
        """Stop the server (SIGKILL with ``kill``)."""
        if self.proc and self.proc.poll() is None:
            (self.proc.kill if kill else self.proc.terminate)()
            self.proc.wait(timeout=15)

    def crash(self) -> None:
        """SIGKILL the gunicorn master and its worker at once, as a power cut would; wait for the port to close.

        Killing the master alone lets the worker notice and shut down gracefully, which is no crash.
        """
        if not self.proc or self.proc.poll() is not None:
            return
        try:
            children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text().split()
        except OSError:
            children = []
        for pid in [self.proc.pid, *map(int, children)]:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.proc.wait(timeout=15)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
            except OSError:
                return
            time.sleep(0.05)
        raise RuntimeError(f"port {self.port} still answers after SIGKILL")

    def __exit__(self, *exc) -> None:
        self.stop()


class ThreadedServer:
    """Serve an app of this process on a free port (werkzeug, one thread per request), for real
    Socket.IO clients over TCP while the test moves the scheduler's clock in the same process.

    Clients use the polling transport here: werkzeug's server does not close a WebSocket
    cleanly, and each client's disconnect would wait seconds for it."""

    def __init__(self, app) -> None:
        from werkzeug.serving import make_server

        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = None

    def __enter__(self) -> "ThreadedServer":
        import threading

        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)
