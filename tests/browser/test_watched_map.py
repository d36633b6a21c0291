"""A watched live map stays logged in; an ended session leaves the map for the login page, not a dead screen."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import update
from sqlmodel import Session, select

from app.db import utcnow
from app.models import LoginSession
from tests.factories import PASSWORD
from tests.live import LiveServer

from .conftest import login_page


@pytest.fixture
def live(app, world, tmp_path):
    """Serve the test database, sweeping every 0.3 s (the sweep ends idle sessions in every process)."""
    url = app.extensions["escort"].engine.url.render_as_string(hide_password=False)
    with LiveServer(url, tmp_path, ESCORT_SWEEP_INTERVAL_S="0.3") as server:
        yield server


def _age(app, seconds: float) -> None:
    """Make the dispatcher's login session look ``seconds`` without a request."""
    with Session(app.extensions["escort"].engine) as s:
        s.execute(update(LoginSession).values(last_seen_at=utcnow() - timedelta(seconds=seconds)))
        s.commit()


def test_input_on_the_map_keeps_the_session_and_an_ended_one_goes_to_login(browser, live, app):
    page = login_page(browser, live, "dan", PASSWORD)
    page.goto(f"{live.url}/dispatch")
    page.locator("#conn-status", has_text="live").wait_for()
    idle = app.extensions["escort"].config.idle_logout_s

    _age(app, idle - 20)  # nearly idle: the dispatcher has only watched
    with page.expect_response(lambda r: r.url.endswith("/api/v1/session")) as answer:
        page.keyboard.press("Shift")  # the person is there
    assert answer.value.status == 200
    with Session(app.extensions["escort"].engine) as s:
        [row] = s.exec(select(LoginSession).where(LoginSession.ended_at.is_(None))).all()
        assert (utcnow() - row.last_seen_at).total_seconds() < 10, "the input counted as activity"

    _age(app, idle + 60)  # now nobody has touched it for longer than the idle limit
    page.wait_for_url("**/login?next=%2Fdispatch", timeout=10_000)
    assert page.get_by_label("User name").is_visible()
