"""deploy/nginx.conf, rendered to free ports, in front of two gunicorn processes: Socket.IO works through it,
sticky, upgraded to WebSocket, and a device whose process dies carries on through the other one."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path

from tests.conftest import require
from tests.live import REPO, free_port
from tests.system.conftest import (
    Dispatcher,
    device_client,
    port_open,
    two_processes,
    wait_for,
)

SAMPLE = REPO / "deploy" / "nginx.conf"
ACCESS_LOG = "/var/log/nginx/escort-dispatch.access.log"
UPSTREAM_LINE = re.compile(r"^(\s*)server 127\.0\.0\.1:\d+ ([^;]*);\n", re.MULTILINE)


def render(sample: str, listen_port: int, upstream_ports: list[int], access_log: Path | None = None) -> str:
    """Return the sample with its listen port, upstream servers and access log path replaced, nothing else changed."""
    first = UPSTREAM_LINE.search(sample)
    assert first and "listen 80;" in sample, "the sample's upstream servers or listen line moved"
    assert ACCESS_LOG in sample, "the sample's access_log line moved"
    if access_log is not None:
        sample = sample.replace(ACCESS_LOG, str(access_log))
    options = first.group(2)
    servers = "".join(f"{first.group(1)}server 127.0.0.1:{p} {options};\n" for p in upstream_ports)
    body = UPSTREAM_LINE.sub("", sample)
    body = body[:first.start()] + servers + body[first.start():]
    return body.replace("listen 80;", f"listen 127.0.0.1:{listen_port};")


def wrapper(prefix: Path, site: Path) -> str:
    """Return a top-level nginx.conf that keeps every file under ``prefix`` (no root paths needed)."""
    temp = prefix / "temp"
    temps = "\n".join(f"    {kind}_temp_path {temp / kind};" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    user = "user root;\n" if os.geteuid() == 0 else ""  # as root, workers would otherwise run as nobody
    return (f"{user}worker_processes 1;\npid {prefix / 'nginx.pid'};\nerror_log {prefix / 'error.log'} warn;\n"
            f"events {{ worker_connections 512; }}\n"
            f"http {{\n    access_log {prefix / 'access.log'};\n{temps}\n    include {site};\n}}\n")


@contextmanager
def nginx_in_front(prefix: Path, upstream_ports: list[int]):
    """Run nginx with the rendered sample on a free port; yield its URL."""
    binary = shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx",) if Path(p).exists()), None)
    require(binary is not None, "nginx is not installed (apt-get install -y nginx)")
    prefix.mkdir(parents=True, exist_ok=True)
    (prefix / "temp").mkdir(exist_ok=True)
    port = free_port()
    site = prefix / "escort-dispatch.conf"
    site.write_text(render(SAMPLE.read_text(), port, upstream_ports, prefix / "escort-access.log"))
    conf = prefix / "nginx.conf"
    conf.write_text(wrapper(prefix, site))
    check = subprocess.run([binary, "-t", "-p", str(prefix), "-c", str(conf)], capture_output=True, text=True,
                           check=False)
    assert check.returncode == 0, check.stderr
    with open(prefix / "stderr.log", "wb") as stderr:
        proc = subprocess.Popen([binary, "-p", str(prefix), "-c", str(conf), "-g", "daemon off;"],
                                stdout=subprocess.DEVNULL, stderr=stderr)
    try:
        wait_for(lambda: port_open("127.0.0.1", port) or proc.poll() is not None, 10, "nginx to listen")
        assert proc.poll() is None, (prefix / "stderr.log").read_text() + (prefix / "error.log").read_text()
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_socketio_through_the_sample_nginx_config_over_two_processes(app, world, tmp_path):
    with two_processes(app, tmp_path, ESCORT_PROXY_COUNT="1") as (a, b), nginx_in_front(tmp_path / "nginx", [a.port, b.port]) as front:
        with urllib.request.urlopen(f"{front}/healthz", timeout=10) as resp:
            health = resp.status
        # Long-polling only: every request of the session must reach the same process (sticky).
        polling = Dispatcher(front, world.api_tokens["dan"], transports=("polling",))
        # The default client: polling first, then the WebSocket upgrade through nginx.
        upgrading = Dispatcher(front, world.api_tokens["ada"], transports=("polling", "websocket"))
        # Straight to each process: whichever one nginx chose, the other sees the fixes through Redis.
        direct = [Dispatcher(s.url, world.api_tokens["dan"]) for s in (a, b)]
        device = device_client(front, world.device_token)
        try:
            began = time.monotonic()
            acks = [device.call("fix", fix(i), namespace="/device", timeout=10) for i in range(1, 21)]
            for watcher in (polling, upgrading, *direct):
                wait_for(lambda w=watcher: len(w.positions) >= 20, 15, "20 positions on every screen")
            elapsed_s = time.monotonic() - began
            upgraded = upgrading.client.transport()

            # The process nginx chose dies: the device reconnects through nginx, which fails over.
            chosen, other = (a, b) if connected_devices(a) == 1 else (b, a)
            assert (connected_devices(chosen), connected_devices(other)) == (1, 0)
            chosen.crash()
            device.disconnect()
            device = device_client(front, world.device_token)
            after = [device.call("fix", fix(i), namespace="/device", timeout=10) for i in range(21, 31)]
            survivor = direct[(a, b).index(other)]
            wait_for(lambda: len(survivor.positions) >= 30, 15, "the fixes after the failover on the survivor's screen")
        finally:
            device.disconnect()
            for watcher in (polling, upgrading, *direct):
                watcher.close()
    assert health == 200
    assert acks == [{"ok": True, "seq": i} for i in range(1, 21)]
    assert upgraded == "websocket", "the Upgrade headers reach the processes"
    for watcher in (polling, upgrading, *direct):
        assert sorted(f["seq"] for f in watcher.positions[:20]) == list(range(1, 21))
    assert elapsed_s < 15
    assert after == [{"ok": True, "seq": i} for i in range(21, 31)], "nginx sends the device to the live process"
    assert sorted(f["seq"] for f in survivor.positions) == list(range(1, 31))


def fix(seq: int) -> dict:
    """Return a fix payload a minute old plus ``seq`` seconds."""
    return {"seq": seq, "lat": 51.5007 + seq * 1e-5, "lon": -0.1246, "ts": time.time() - 60 + seq}


def connected_devices(server) -> int:
    """Return how many devices are connected to one process, from its /metrics."""
    with urllib.request.urlopen(f"{server.url}/metrics", timeout=5) as resp:
        text = resp.read().decode()
    match = re.search(r'^escort_connected\{namespace="device"\} (\S+)$', text, re.MULTILINE)
    return int(float(match.group(1))) if match else 0


def test_the_access_log_and_the_server_log_hold_no_device_token(app, world, tmp_path):
    """Trackers send their token in the URL: nginx logs the request line without the query, the app never logs it."""
    from tests.live import LiveServer

    url = app.extensions["escort"].engine.url.render_as_string(hide_password=False)
    stranger = "esd_not-a-token-but-looks-like-one-0123456789"
    stamp = int(time.time()) - 30
    with LiveServer(url, tmp_path, ESCORT_PROXY_COUNT="1") as live, \
            nginx_in_front(tmp_path / "nginx", [live.port]) as front:
        answers = []
        for query in (f"id={world.device_token}&lat=51.5007&lon=-0.1246&timestamp={stamp}",
                      f"id={world.device_token}&lat=51.5007&lon=-0.1246&timestamp=86400",  # refused: too old
                      f"deviceid={world.device_token}&lat=95&lon=0&timestamp={stamp}",  # malformed: a 400
                      f"id={stranger}&lat=51.5&lon=-0.12&timestamp={stamp}"):  # unknown device
            request = urllib.request.Request(f"{front}/osmand?{query}", method="POST", data=b"")
            try:
                with urllib.request.urlopen(request, timeout=10) as resp:
                    answers.append(resp.status)
            except urllib.error.HTTPError as exc:
                answers.append(exc.code)
    assert answers == [200, 200, 400, 400]
    access = (tmp_path / "nginx" / "escort-access.log").read_text()
    assert access.count('"POST /osmand HTTP/1.1" ') == 4, access
    server_log = live.log_path.read_text()
    for secret in (world.device_token, stranger):
        assert secret not in access and secret not in server_log
        assert secret not in (tmp_path / "nginx" / "access.log").read_text()


def test_the_access_log_masks_a_responders_live_link(app, world, session, tmp_path):
    """A live link's token is its path (/live/TOKEN): nginx logs /live/[token], and the app never logs the token."""
    from app.db import utcnow
    from dispatch import live_links
    from dispatch.models import Alert
    from tests.live import LiveServer

    now = utcnow()
    alert = Alert(trip_id=world.trip.id, kind="panic", open_key=f"trip:{world.trip.id}:panic", raised_at=now,
                  updated_at=now, detail={"lat": 51.5007, "lon": -0.1246})
    session.add(alert)
    session.flush()
    made = live_links.create(session, alert, now=now, minutes=60)
    session.commit()
    url = app.extensions["escort"].engine.url.render_as_string(hide_password=False)
    stranger = "not-a-live-link-but-looks-like-one-0123456789abcdef"
    with LiveServer(url, tmp_path, ESCORT_PROXY_COUNT="1") as live, \
            nginx_in_front(tmp_path / "nginx", [live.port]) as front:
        answers = []
        for path in (f"/live/{made.token}", f"/live/{made.token}/position.json", f"/live/{stranger}"):
            request = urllib.request.Request(f"{front}{path}", headers={"Referer": f"{front}/live/{made.token}"})
            try:
                with urllib.request.urlopen(request, timeout=10) as resp:
                    answers.append(resp.status)
            except urllib.error.HTTPError as exc:
                answers.append(exc.code)
    assert answers == [200, 200, 404]
    access = (tmp_path / "nginx" / "escort-access.log").read_text()
    assert access.count('"GET /live/[token] HTTP/1.1" 200 ') == 1, access
    assert access.count('"GET /live/[token]/position.json HTTP/1.1" 200 ') == 1, access
    assert access.count('"GET /live/[token] HTTP/1.1" 404 ') == 1, access
    for secret in (made.token, stranger):
        assert secret not in access and secret not in live.log_path.read_text()
