"""Limits on what comes in: body size, who may read /metrics, private instance files."""

from __future__ import annotations

import http.client
import io
import json
import stat

import pytest

from app import create_app
from app.config import Config, ConfigError
from tests.conftest import make_config
from tests.factories import fix_payload
from tests.live import LiveServer


class ReadWatch(io.BytesIO):
    """A request body that remembers whether anybody read it."""

    touched = False

    def read(self, *args):
        self.touched = True
        return super().read(*args)

    def readline(self, *args):
        self.touched = True
        return super().readline(*args)

    def readinto(self, buffer):
        self.touched = True
        return super().readinto(buffer)

    def read1(self, *args):
        self.touched = True
        return super().read1(*args)


def _post(client, path, body: bytes, content_type="application/json", headers=None):
    stream = ReadWatch(body)
    resp = client.post(path, headers={"Content-Type": content_type, **(headers or {})},
                       environ_overrides={"wsgi.input": stream, "CONTENT_LENGTH": str(len(body))})
    return resp, stream


def test_an_oversized_body_is_refused_413_with_json_before_it_is_read(client, world):
    big = b"[" + b"1," * (3 * 1024 * 1024) + b"1]"  # 6 MB, over the 4 MiB default
    for path, headers in (("/osmand", {}), ("/api/v1/fixes", {"Authorization": f"Bearer {world.device_token}"}),
                          ("/api/v1/trips", world.bearer("dan"))):
        resp, stream = _post(client, path, big, headers=headers)
        assert resp.status_code == 413, path
        assert "ESCORT_MAX_BODY_BYTES" in resp.get_json()["error"]
        assert not stream.touched, path


def test_a_tracker_body_is_bounded_far_below_the_app_limit(client, world):
    body = json.dumps({"device_id": world.device_token, "location": {}, "pad": "x" * 100_000}).encode()
    resp, _ = _post(client, "/osmand", body)
    assert resp.status_code == 413


def test_trackers_check_the_device_before_reading_the_body(client, world):
    body = json.dumps([fix_payload(1)]).encode()
    resp, stream = _post(client, "/api/v1/fixes", body, headers={"Authorization": "Bearer nope"})
    assert resp.status_code == 401 and not stream.touched
    resp, stream = _post(client, "/owntracks", body, headers={"Authorization": "Basic bm9wZTpub3Bl"})
    assert resp.status_code == 401 and not stream.touched
    resp, stream = _post(client, "/osmand?id=nope&lat=51.5&lon=-0.12", b"lat=1&lon=2",
                         content_type="application/x-www-form-urlencoded")
    assert resp.status_code == 400 and resp.get_json() == {"error": "unknown device"}
    assert not stream.touched


def test_a_gpx_upload_and_a_batch_of_1000_fixes_fit_the_default_limit(client, world):
    batch = [fix_payload(i, lat=51.5007 + i * 1e-6) for i in range(1, 1001)]
    resp = client.post("/api/v1/fixes", json=batch, headers={"Authorization": f"Bearer {world.device_token}"})
    assert resp.status_code == 200
    assert len(resp.get_json()["accepted"]) + len(resp.get_json()["rejected"]) == 1000


def test_the_limit_is_set_by_escort_max_body_bytes():
    assert Config.from_env({"ESCORT_MAX_BODY_BYTES": "100000"}).max_body_bytes == 100000
    for bad in ("lots", "-5", "1000"):
        with pytest.raises(ConfigError, match="ESCORT_MAX_BODY_BYTES"):
            Config.from_env({"ESCORT_MAX_BODY_BYTES": bad})


def test_a_streamed_body_without_content_length_is_cut_at_the_limit(app, world, tmp_path):
    """Over a real socket: a chunked body has no Content-Length for the first check to see."""
    url = app.extensions["escort"].engine.url.render_as_string(hide_password=False)
    with LiveServer(url, tmp_path, ESCORT_MAX_BODY_BYTES="100000") as live:
        conn = http.client.HTTPConnection("127.0.0.1", live.port, timeout=20)
        chunk = b"[" + b"0," * 50_000
        conn.putrequest("POST", "/api/v1/fixes")
        conn.putheader("Authorization", f"Bearer {world.device_token}")
        conn.putheader("Content-Type", "application/json")
        conn.putheader("Transfer-Encoding", "chunked")
        conn.endheaders()
        for _ in range(5):  # 500 kB in all
            conn.send(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        conn.send(b"0\r\n\r\n")
        resp = conn.getresponse()
        body = resp.read()
        assert resp.status == 413, body
        assert "ESCORT_MAX_BODY_BYTES" in json.loads(body)["error"]
        conn.close()


def test_metrics_need_the_token_when_one_is_set(tmp_path):
    app = create_app(make_config(tmp_path, metrics_token="m" * 32))
    client = app.test_client()
    assert client.get("/metrics").status_code == 401
    assert "ESCORT_METRICS_TOKEN" in client.get("/metrics").get_json()["error"]
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    resp = client.get("/metrics", headers={"Authorization": f"Bearer {'m' * 32}"})
    assert resp.status_code == 200 and b"escort_fixes_stored" in resp.data
    app.extensions["escort"].engine.dispose()


def test_metrics_without_a_token_are_for_loopback_only(tmp_path):
    app = create_app(make_config(tmp_path, proxy_count=1))
    client = app.test_client()
    assert client.get("/metrics").status_code == 200  # the test client is 127.0.0.1
    far = client.get("/metrics", environ_base={"REMOTE_ADDR": "10.1.2.3"})
    assert far.status_code == 403 and "ESCORT_METRICS_TOKEN" in far.get_json()["error"]
    # A proxy header claiming loopback does not make a far client near, nor a proxied one local.
    spoof = client.get("/metrics", environ_base={"REMOTE_ADDR": "10.1.2.3"}, headers={"X-Forwarded-For": "127.0.0.1"})
    assert spoof.status_code == 403
    proxied = client.get("/metrics", headers={"X-Forwarded-For": "203.0.113.9"})
    assert proxied.status_code == 403
    app.extensions["escort"].engine.dispose()


def test_instance_files_are_private_from_their_first_byte(tmp_path, monkeypatch):
    created_modes = []
    real_open = __import__("os").open

    def watch(path, flags, mode=0o777, *a, **kw):
        fd = real_open(path, flags, mode, *a, **kw)
        if str(path).endswith(("secret_key", "data_keys")):
            created_modes.append(stat.S_IMODE(__import__("os").fstat(fd).st_mode))
        return fd

    monkeypatch.setattr("os.open", watch)
    instance = tmp_path / "fresh" / "instance"
    cfg = make_config(tmp_path, instance_path=instance, secret_key=None,
                      database_url=f"sqlite:///{instance / 'escort.db'}")
    app = create_app(cfg, demo=True)
    app.extensions["escort"].engine.dispose()
    assert stat.S_IMODE(instance.stat().st_mode) == 0o700
    for name in ("secret_key", "data_keys"):
        assert stat.S_IMODE((instance / name).stat().st_mode) == 0o600
    assert created_modes == [0o600, 0o600]  # never readable by others, not even for a moment
    # A second start reads the same files.
    again = create_app(cfg, demo=True)
    assert again.config["SECRET_KEY"] == app.config["SECRET_KEY"]
    again.extensions["escort"].engine.dispose()


def test_escort_serve_access_log_holds_no_query_string(app, world, tmp_path):
    """An operator who turns gunicorn's access log on (GUNICORN_CMD_ARGS) gets no device tokens in it."""
    import os
    import subprocess
    import sys
    import time
    import urllib.error
    import urllib.request
    from pathlib import Path

    from tests.live import REPO, free_port

    port = free_port()
    url = app.extensions["escort"].engine.url.render_as_string(hide_password=False)
    log_path = tmp_path / "serve.log"
    env = dict(os.environ, DATABASE_URL=url, SECRET_KEY="serve-test-secret-0123456789abcdef",
               ESCORT_INSTANCE_PATH=str(tmp_path), GUNICORN_CMD_ARGS="--access-logfile -")
    with open(log_path, "wb") as out:
        escort = Path(sys.executable).parent / "escort"  # the console script pip installed next to python
        proc = subprocess.Popen([str(escort), "serve", "--port", str(port)], cwd=REPO, env=env,
                                stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline and proc.poll() is None, log_path.read_text()
                time.sleep(0.2)
        stamp = int(time.time()) - 30
        request = urllib.request.Request(f"http://127.0.0.1:{port}/osmand?id={world.device_token}&lat=51.5007"
                                         f"&lon=-0.1246&timestamp={stamp}", method="POST", data=b"")
        assert urllib.request.urlopen(request, timeout=10).status == 200
        # A responder's live link carries its token in the path (issue #16): logged as /live/[token].
        live_token = "a-responders-live-link-token-0123456789abcdef"
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/live/{live_token}/position.json", timeout=10)
        except urllib.error.HTTPError as exc:
            assert exc.code == 404
    finally:
        proc.terminate()
        proc.wait(timeout=15)
    log = log_path.read_text()
    assert '"POST /osmand HTTP/1.1" 200' in log, log
    assert world.device_token not in log
    assert '"GET /live/[token]/position.json HTTP/1.1" 404' in log, log
    assert live_token not in log
