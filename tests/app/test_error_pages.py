"""403, 404 and 500 are the app's own pages, not Flask's defaults; the API keeps answering JSON."""

from __future__ import annotations

from pathlib import Path

from app import create_app
from app.db import upgrade
from tests.conftest import make_config
from tests.factories import World, login

FLASK_DEFAULT = "<title>404 Not Found</title>"


def _page(resp) -> str:
    html = resp.get_data(as_text=True)
    assert resp.mimetype == "text/html"
    assert 'id="error-page"' in html and "Escort Dispatch" in html and "/static/css/app.css" in html, html
    return html


def test_an_unknown_page_is_the_apps_own_404_and_the_api_keeps_json(client, world):
    resp = client.get("/no-such-page")
    assert resp.status_code == 404
    html = _page(resp)
    assert "Page not found" in html and FLASK_DEFAULT not in html
    api = client.get("/api/v1/trips/999999", headers=world.bearer("dan"))
    assert api.status_code == 404 and api.json == {"error": "no trip with id 999999"}


def test_a_page_of_another_role_is_the_apps_own_403(client, world):
    login(client, "cora")  # a coordinator may not watch the live map
    resp = client.get("/dispatch")
    assert resp.status_code == 403
    assert "Not allowed" in _page(resp)


def server_error_page(tmp_path: Path) -> tuple[int, str]:
    """Return the status and page a logged-in dispatcher gets when the database is unreadable.

    A real failure: the SQLite file is overwritten with garbage while the server runs, so the
    login lookup of the next request fails ("file is not a database").
    """
    db = tmp_path / "broken.db"
    app = create_app(make_config(tmp_path, database_url=f"sqlite:///{db}"))
    app.config["PROPAGATE_EXCEPTIONS"] = False  # as served: testing mode would re-raise into the test
    engine = app.extensions["escort"].engine
    upgrade(engine)
    from sqlmodel import Session

    with Session(engine) as session:
        World.build(app, session)
    client = app.test_client()
    login(client, "dan")
    assert client.get("/trips").status_code == 200
    engine.dispose()
    for leftover in tmp_path.glob("broken.db-*"):
        leftover.unlink()
    db.write_bytes(b"this is no database " * 512)
    resp = client.get("/trips")
    engine.dispose()
    return resp.status_code, resp.get_data(as_text=True)


def test_a_server_failure_is_the_apps_own_500_page(tmp_path):
    status, html = server_error_page(tmp_path)
    assert status == 500
    assert 'id="error-page"' in html and "Something went wrong" in html
    assert "Traceback" not in html and "Internal Server Error" not in html
