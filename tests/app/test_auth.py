"""Login, lockout, role checks on pages, and tokens stored only as hashes."""

from __future__ import annotations

import threading
import time
from dataclasses import replace
from datetime import timedelta

import pytest
from sqlmodel import select

from app.auth import hash_token
from app.models import ApiToken, AuditEvent, User
from tests.factories import PASSWORD, csrf_token, login


def test_login_lands_each_role_on_its_page(app, world):
    for name, home in (("dan", "/dispatch"), ("eve", "/escort"), ("cora", "/trips"), ("ada", "/dispatch")):
        web = app.test_client()
        resp = web.post("/login", data={"username": name, "password": PASSWORD, "csrf_token": csrf_token(web)})
        assert resp.status_code == 302 and resp.headers["Location"].endswith(home), name


def test_login_without_csrf_is_refused(app, world):
    resp = app.test_client().post("/login", data={"username": "dan", "password": PASSWORD})
    assert resp.status_code == 400


def test_wrong_password_then_lockout(app, world, session):
    web = app.test_client()
    for _ in range(5):
        resp = web.post("/login", data={"username": "dan", "password": "wrong-one", "csrf_token": csrf_token(web)})
        assert resp.status_code == 401 and "Wrong user name or password" in resp.get_data(as_text=True)
    locked = web.post("/login", data={"username": "dan", "password": PASSWORD, "csrf_token": csrf_token(web)})
    assert locked.status_code == 401, "the right password does not open a locked account"
    session.expire_all()
    assert session.exec(select(User).where(User.username == "dan")).one().locked_until is not None
    actions = [e.action for e in session.exec(select(AuditEvent)).all()]
    assert actions.count("login_failed") == 6


def test_next_must_be_a_local_path(app, world):
    web = app.test_client()
    resp = web.post("/login", data={"username": "dan", "password": PASSWORD, "csrf_token": csrf_token(web),
                                    "next": "//evil.example/x"})
    assert resp.headers["Location"].endswith("/dispatch")


def test_pages_check_roles(app, world):
    anon = app.test_client()
    assert anon.get("/dispatch").status_code == 302
    assert anon.get("/escort").status_code == 302
    escort = login(app.test_client(), "eve")
    assert escort.get("/dispatch").status_code == 403
    assert escort.get("/escort").status_code == 200
    disp = login(app.test_client(), "dan")
    assert disp.get("/escort").status_code == 403
    assert disp.get("/dispatch").status_code == 200


def test_escort_page_shows_own_trip_and_patient_name(app, world):
    html = login(app.test_client(), "eve").get("/escort").get_data(as_text=True)
    assert "Pat Example" in html
    other = login(app.test_client(), "emil").get("/escort").get_data(as_text=True)
    assert "Pat Example" not in other


def test_logout_ends_the_session(app, world):
    web = login(app.test_client(), "dan")
    assert web.post("/logout", data={"csrf_token": csrf_token(web)}).status_code == 302
    assert web.get("/dispatch").status_code == 302


def test_tokens_are_stored_hashed(world, session):
    stored = {t.token_hash for t in session.exec(select(ApiToken)).all()}
    for token in world.api_tokens.values():
        assert token not in stored and hash_token(token) in stored
    assert world.device.token_hash == hash_token(world.device_token)


def test_healthz_answers(client):
    resp = client.get("/healthz")
    assert resp.status_code == 200 and resp.json["database"] == "ok"


def test_only_a_bearer_header_is_token_auth(app, world):
    """Any other Authorization header leaves the request on the cookie, CSRF included."""
    web = login(app.test_client(), "dan")
    zone = {"name": "Closed road", "polygon": {"type": "Polygon", "coordinates": [
        [[-0.12, 51.50], [-0.11, 51.50], [-0.11, 51.51], [-0.12, 51.50]]]}}
    forged = web.post("/api/v1/hazard-zones", json=zone, headers={"Authorization": "x"})
    assert forged.status_code == 400 and "CSRF" in forged.get_data(as_text=True)
    assert web.post("/api/v1/hazard-zones", json=zone, headers={"X-CSRFToken": csrf_token(web)}).status_code == 201


def test_a_bearer_request_ignores_the_cookie(app, world):
    web = login(app.test_client(), "ada")
    assert web.get("/api/v1/audit").status_code == 200
    assert web.get("/api/v1/audit", headers={"Authorization": "Bearer esk_not-a-token"}).status_code == 401
    assert web.get("/api/v1/audit", headers=world.bearer("dan")).status_code == 403, "dan's token, not ada's cookie"
    page = web.get("/admin/audit", headers={"Authorization": "Bearer esk_not-a-token"})
    assert page.status_code == 302 and "/login" in page.headers["Location"], "the cookie does not ride along"


def test_head_does_not_log_in(app, world):
    web = app.test_client()
    token = csrf_token(web)
    resp = web.open("/login", method="HEAD", data={"username": "dan", "password": PASSWORD, "csrf_token": token})
    assert resp.status_code == 200
    assert web.get("/dispatch").status_code == 302, "still logged out"


@pytest.mark.parametrize("target", ["/%09/evil.example/phish", "/\t/evil.example", "/\n/evil.example", "/%0A/x",
                                    "/\\evil.example", "//evil.example", "https://evil.example/", "javascript:alert(1)",
                                    "/ok\r\nSet-Cookie: x=1", "evil.example"])
def test_next_accepts_only_same_origin_paths(app, world, target):
    from urllib.parse import unquote

    web = app.test_client()
    page = web.get("/login?next=" + target.replace("\t", "%09").replace("\n", "%0A").replace("\r", "%0D"))
    assert page.status_code == 200
    resp = web.post("/login", data={"username": "dan", "password": PASSWORD, "csrf_token": csrf_token(web),
                                    "next": unquote(target)})
    assert resp.status_code == 302 and resp.headers["Location"] == "/dispatch", resp.headers.get("Location")


def test_next_keeps_a_local_path(app, world):
    web = app.test_client()
    resp = web.post("/login", data={"username": "dan", "password": PASSWORD, "csrf_token": csrf_token(web),
                                    "next": f"/trips/{world.trip.id}?tab=log"})
    assert resp.headers["Location"] == f"/trips/{world.trip.id}?tab=log"


def _login_time(web, username: str, password: str) -> float:
    start = time.perf_counter()
    web.post("/login", data={"username": username, "password": password, "csrf_token": csrf_token(web)},
             environ_base={"REMOTE_ADDR": f"198.51.100.{hash(username) % 200}"})
    return time.perf_counter() - start


def test_a_locked_account_answers_as_slowly_as_any_other(app, world, session):
    from app.db import utcnow

    dan = session.exec(select(User).where(User.username == "dan")).one()
    dan.locked_until = utcnow() + timedelta(minutes=10)
    session.commit()
    web = app.test_client()
    # Interleaved, the fastest of four each (ada stays below the lockout): a machine whose load
    # changes during the test slows both alike.
    locked, wrong = float("inf"), float("inf")
    for _ in range(4):
        locked = min(locked, _login_time(web, "dan", "wrong-one"))
        wrong = min(wrong, _login_time(web, "ada", "wrong-one"))
    assert locked > 0.5 * wrong, f"locked {locked * 1000:.0f} ms, wrong password {wrong * 1000:.0f} ms"


def test_failed_logins_are_throttled_by_address(app, world, session):
    from app.logins import MAX_FAILURES_PER_ADDR

    web = app.test_client()
    attacker = {"REMOTE_ADDR": "203.0.113.9"}
    names = ["ada", "dan", "eve", "emil", "cora"]
    for i in range(MAX_FAILURES_PER_ADDR):
        resp = web.post("/login", data={"username": names[i % 5], "password": "guess", "csrf_token": csrf_token(web)},
                        environ_base=attacker)
        assert resp.status_code == 401
    stopped = web.post("/login", data={"username": "dan", "password": PASSWORD, "csrf_token": csrf_token(web)},
                       environ_base=attacker)
    assert stopped.status_code == 429 and "Too many failed logins" in stopped.get_data(as_text=True)
    session.expire_all()
    assert all(u.locked_until is None for u in session.exec(select(User)).all()), "no account locked by one address"
    elsewhere = web.post("/login", data={"username": "dan", "password": PASSWORD, "csrf_token": csrf_token(web)},
                         environ_base={"REMOTE_ADDR": "192.0.2.1"})
    assert elsewhere.status_code == 302, "another address still logs in"


def test_many_accounts_locked_at_once_tell_the_admins(app, world, session):
    """Three accounts locked within 15 minutes: one lockout_storm line, a notice, and the supervisor's webhook."""
    import json
    from http.server import BaseHTTPRequestHandler, HTTPServer

    got: list[dict] = []

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            got.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *_args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    ext = app.extensions["escort"]
    ext.config = replace(ext.config, webhook_url=f"http://127.0.0.1:{server.server_port}/hook")
    try:
        web = app.test_client()
        for n, name in enumerate(("dan", "eve", "emil", "cora")):
            for _ in range(5):  # each from its own address: the address throttle does not stop a botnet
                web.post("/login", data={"username": name, "password": "guess", "csrf_token": csrf_token(web)},
                         environ_base={"REMOTE_ADDR": f"192.0.2.{n + 10}"})
    finally:
        server.shutdown()
        server.server_close()
    storms = session.exec(select(AuditEvent).where(AuditEvent.action == "lockout_storm")).all()
    assert len(storms) == 1 and storms[0].detail["accounts"] == ["dan", "emil", "eve"]
    assert len(got) == 1 and got[0]["event"] == "lockout_storm" and got[0]["accounts"] == ["dan", "emil", "eve"]
    assert [e.username for e in session.exec(select(AuditEvent).where(AuditEvent.action == "account_locked"))] == [
        "dan", "eve", "emil", "cora"]
    notice = login(app.test_client(), "ada").get("/admin/audit").get_data(as_text=True)
    assert 'id="lockout-storm"' in notice and "dan, emil, eve" in notice
