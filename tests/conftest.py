"""Shared fixtures: an app on a fresh migrated database, clients per role, sockets."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import settings

from app import create_app
from app.config import Config
from app.db import upgrade

# CI explores the same examples every run (a red CI must mean a real regression); locally,
# hypothesis keeps exploring new ones.
settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True)
settings.register_profile("dev", deadline=None)
settings.load_profile("ci" if os.environ.get("CI") == "true" else "dev")

SHARED_DATA = Path(os.environ.get("ESCORT_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
IN_CI = os.environ.get("CI") == "true"


def require(condition: bool, reason: str) -> None:
    """Skip when a component is missing, but fail under CI=true, where everything must run."""
    if not condition:
        if IN_CI:
            pytest.fail(f"required in CI: {reason}")
        pytest.skip(reason)


def shared_data(*parts: str) -> Path:
    """Return a path in ../shared/data, skipping the test when it is absent."""
    path = SHARED_DATA.joinpath(*parts)
    require(path.exists(), f"reference data {path} is absent")
    return path


def make_config(tmp_path: Path, **overrides) -> Config:
    """Return a test configuration on a fresh SQLite file (or ESCORT_TEST_DATABASE_URL)."""
    url = os.environ.get("ESCORT_TEST_DATABASE_URL") or f"sqlite:///{tmp_path / 'test.db'}"
    base = dict(database_url=url, secret_key="test-secret-key-0123456789abcdef", async_mode="threading",
                instance_path=tmp_path, tile_url="", testing=True, positions_interval_s=0.05,
                sweep_interval_s=0)  # tests sweep explicitly, with a moved clock
    base.update(overrides)
    return Config(**base)


@pytest.fixture
def app(tmp_path):
    """Return an app on a freshly migrated database."""
    app = create_app(make_config(tmp_path))
    engine = app.extensions["escort"].engine
    _reset_postgres(engine)
    upgrade(engine)
    yield app
    engine.dispose()


def _reset_postgres(engine) -> None:
    """Drop everything in a PostgreSQL test database so each test starts empty."""
    if engine.dialect.name != "postgresql":
        return
    from sqlalchemy import text

    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))


@pytest.fixture
def session(app):
    """Return a database session on the app's engine."""
    from sqlmodel import Session

    with Session(app.extensions["escort"].engine, expire_on_commit=False) as s:
        yield s


@pytest.fixture
def client(app):
    """Return a Flask test client."""
    return app.test_client()


@pytest.fixture
def world(app, session):
    """Return a small world: one user per role, an escort device, a patient and an active trip."""
    from tests.factories import World

    return World.build(app, session)
