"""Login, lockout, role checks on pages, and tokens stored only as hashes."""

from __future__ import annotations

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
