"""Sessions that really end, on a real gunicorn server with real Socket.IO clients over TCP.

Logging out, idling out, disabling a user and revoking an API or device token end that
credential everywhere: a copied cookie or token is refused by HTTP and Socket.IO alike, and
the live sockets that rode on it are dropped (at once in the process that ended it, within a
sweep interval in every other process, e.g. after a CLI command).
"""

from __future__ import annotations

import base64
import os
import re
import subprocess
import sys
import threading
import time
from datetime import timedelta

import pytest
import requests
import socketio as sio
from sqlalchemy import update
from sqlmodel import Session, select

from app.db import utcnow
from app.models import AuditEvent, LoginSession
from tests.factories import PASSWORD, fix_payload
from tests.live import REPO, LiveServer

SWEEP_S = 0.3


@pytest.fixture
def live(app, world, tmp_path):
    """Serve the test database with gunicorn -k gevent, sweeping every 0.3 s."""
    url = app.extensions["escort"].engine.url.render_as_string(hide_password=False)
    with LiveServer(url, tmp_path, ESCORT_SWEEP_INTERVAL_S=str(SWEEP_S)) as server:
        server.db_url = url
        server.instance = tmp_path
        yield server


def web_login(live, username: str) -> requests.Session:
    """Log in through the real form; return the browser-like session holding the cookie."""
    web = requests.Session()
    web.csrf = _csrf(web, f"{live.url}/login")
    resp = web.post(f"{live.url}/login", data={"username": username, "password": PASSWORD, "csrf_token": web.csrf},
                    allow_redirects=False, timeout=10)
    assert resp.status_code == 302, resp.text[:300]
    return web


def _csrf(web: requests.Session, url: str) -> str:
    return re.search(r'name="csrf-token" content="([^"]+)"', web.get(url, timeout=10).text).group(1)


def cookie_of(web: requests.Session) -> str:
    """Return the Cookie header a copy of this browser's cookie would send."""
    return "; ".join(f"{c.name}={c.value}" for c in web.cookies)


class Watcher:
    """A real Socket.IO client on one namespace that records the snapshot and its disconnection."""

    def __init__(self, live, namespace: str, *, cookie: str | None = None, token: str | None = None) -> None:
        self.namespace, self.snapshot, self.dropped = namespace, threading.Event(), threading.Event()
        self.client = sio.Client(reconnection=False)
        self.client.on("snapshot", lambda _data: self.snapshot.set(), namespace=namespace)
        self.client.on("disconnect", lambda *_a: self.dropped.set(), namespace=namespace)
        self.client.connect(live.url, namespaces=[namespace], headers={"Cookie": cookie} if cookie else {},
                            auth={"token": token} if token else None, transports=["websocket"], wait_timeout=10)

    def close(self) -> None:
        self.client.disconnect()


def refused(live, namespace: str, *, cookie: str | None = None, token: str | None = None) -> bool:
    """Say whether a new connection with this credential is refused."""
    try:
        watcher = Watcher(live, namespace, cookie=cookie, token=token)
    except sio.exceptions.ConnectionError:
        return True
    got = watcher.snapshot.wait(2) if namespace == "/dispatch" else True
    watcher.close()
    return not got


def cli(live, *args: str, stdin: str = "") -> subprocess.CompletedProcess:
    """Run the ``escort`` command as a subprocess on the live server's database."""
    env = dict(os.environ, DATABASE_URL=live.db_url, ESCORT_INSTANCE_PATH=str(live.instance))
    return subprocess.run([sys.executable, "-c", "from app.cli import main; main()", *args], input=stdin,
                          capture_output=True, text=True, cwd=REPO, env=env, timeout=60)


def test_logout_ends_a_copied_cookie_and_drops_its_sockets_at_once(live, world):
    web = web_login(live, "ada")
    copied = cookie_of(web)
    other = web_login(live, "ada")  # the same admin on a second screen: logging out here leaves it alone
    watcher = Watcher(live, "/dispatch", cookie=copied)
    second = Watcher(live, "/dispatch", cookie=cookie_of(other))
    try:
        assert watcher.snapshot.wait(5) and second.snapshot.wait(5)
        assert requests.get(f"{live.url}/api/v1/audit", headers={"Cookie": copied}, timeout=10).status_code == 200
        resp = web.post(f"{live.url}/logout", data={"csrf_token": web.csrf}, allow_redirects=False, timeout=10)
        assert resp.status_code == 302
        assert watcher.dropped.wait(SWEEP_S / 2), "the socket that rode on the session is dropped by the logout"
        assert requests.get(f"{live.url}/api/v1/audit", headers={"Cookie": copied}, timeout=10).status_code == 401
        page = requests.get(f"{live.url}/admin/audit", headers={"Cookie": copied}, allow_redirects=False, timeout=10)
        assert page.status_code == 302 and "/login" in page.headers["Location"]
        assert refused(live, "/dispatch", cookie=copied), "no snapshot for a logged-out cookie"
        assert not second.dropped.is_set(), "the user's other session is not ended"
        assert other.get(f"{live.url}/api/v1/audit", timeout=10).status_code == 200
    finally:
        watcher.close()
        second.close()


def test_an_idle_cookie_gets_no_snapshot_and_its_socket_is_dropped_by_the_sweep(live, world, app):
    web = web_login(live, "dan")
    watcher = Watcher(live, "/dispatch", cookie=cookie_of(web))
    try:
        assert watcher.snapshot.wait(5)
        idle = app.extensions["escort"].config.idle_logout_s
        with Session(app.extensions["escort"].engine) as s:
            s.execute(update(LoginSession).values(last_seen_at=utcnow() - timedelta(seconds=idle + 120)))
            s.commit()
        assert watcher.dropped.wait(5), "the sweep ends the idle session and drops its socket"
        assert refused(live, "/dispatch", cookie=cookie_of(web))
        assert web.get(f"{live.url}/dispatch", allow_redirects=False, timeout=10).status_code == 302
        with Session(app.extensions["escort"].engine) as s:
            [row] = s.exec(select(LoginSession)).all()
            assert row.ended_reason == "idle"
            assert [e.username for e in s.exec(select(AuditEvent).where(AuditEvent.action == "logout_idle"))] == ["dan"]
    finally:
        watcher.close()


def test_revoking_an_api_token_drops_its_dispatch_socket_at_once(live, world, app):
    token = world.api_tokens["dan"]
    watcher = Watcher(live, "/dispatch", token=token)
    try:
        assert watcher.snapshot.wait(5)
        listed = requests.get(f"{live.url}/api/v1/tokens?user=dan", headers=world.bearer("ada"), timeout=10).json()
        [mine] = [t for t in listed if t["revoked_at"] is None]
        resp = requests.post(f"{live.url}/api/v1/tokens/{mine['id']}/revoke", headers=world.bearer("ada"), timeout=10)
        assert resp.status_code == 200, resp.text
        assert watcher.dropped.wait(SWEEP_S / 2), "dropped by the revoking request itself, not the sweep"
        assert refused(live, "/dispatch", token=token)
        assert requests.get(f"{live.url}/api/v1/alerts", headers=world.bearer("dan"), timeout=10).status_code == 401
    finally:
        watcher.close()


def test_a_device_revoked_by_the_cli_is_refused_everywhere_and_dropped_by_the_sweep(live, world):
    device = Watcher(live, "/device", token=world.device_token)
    try:
        ok = device.client.call("fix", fix_payload(1), namespace="/device", timeout=10)
        assert ok == {"ok": True, "seq": 1}
        done = cli(live, "devices", "revoke", "eve-phone")
        assert done.returncode == 0, done.stderr
        assert device.dropped.wait(5), "another process revoked it: this server's sweep drops the socket"
        assert refused(live, "/device", token=world.device_token)
        bearer = {"Authorization": f"Bearer {world.device_token}"}
        assert requests.post(f"{live.url}/api/v1/fixes", json=[fix_payload(2)], headers=bearer, timeout=10).status_code == 401
        osmand = requests.get(f"{live.url}/osmand", params={"id": world.device_token, "lat": 51.5, "lon": -0.12},
                              timeout=10)
        assert osmand.status_code == 400
        basic = base64.b64encode(f"eve-phone:{world.device_token}".encode()).decode()
        owntracks = requests.post(f"{live.url}/owntracks", headers={"Authorization": f"Basic {basic}"},
                                  json={"_type": "location", "lat": 51.5, "lon": -0.12, "tst": int(time.time())},
                                  timeout=10)
        assert owntracks.status_code == 401
        listing = cli(live, "devices", "list")
        assert re.search(r"eve-phone\teve\t\S+Z\t\S+Z", listing.stdout), listing.stdout
    finally:
        device.close()


def test_disabling_an_escort_drops_their_tablet_and_ends_their_login(live, world, app):
    web = web_login(live, "eve")
    tablet = Watcher(live, "/device", cookie=cookie_of(web))
    try:
        done = cli(live, "users", "disable", "eve")
        assert done.returncode == 0, done.stderr
        assert tablet.dropped.wait(5), "the sweep drops the tablet that rode on the disabled escort's login"
        assert refused(live, "/device", cookie=cookie_of(web))
        assert web.get(f"{live.url}/escort", allow_redirects=False, timeout=10).status_code == 302
        assert requests.get(f"{live.url}/api/v1/trips/{world.trip.id}", headers=world.bearer("eve"),
                            timeout=10).status_code == 401
    finally:
        tablet.close()
