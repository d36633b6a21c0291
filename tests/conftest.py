"""Shared fixtures: an app on a fresh migrated database, clients per role, sockets."""

from __future__ import annotations

import os
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import make_url

from app import create_app
from app.config import Config
from app.db import upgrade
from tests.live import LiveServer
from tests.shared import IN_CI, SHARED_DATA, require, shared_data

__all__ = ["IN_CI", "SHARED_DATA", "require", "shared_data"]  # here too, for the tests that import them from here


def _database_of_this_worker() -> None:
    """Give each pytest-xdist worker of the PostgreSQL pass a database of its own.

    Tests empty and migrate their database freely, so two workers must never share one: worker
    ``gw1`` of a pass on ``…/test`` works in ``…/test_gw1``, created here on first use. The
    variable is rewritten before any test reads it, so every fixture and subprocess sees it.
    """
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    url = os.environ.get("ESCORT_TEST_DATABASE_URL", "")
    if not worker or not url.startswith("postgresql"):
        return
    base = make_url(url)
    name = f"{base.database}_{worker}"
    admin = base.set(drivername="postgresql", database="postgres").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True, connect_timeout=5) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is None:
            conn.execute(f'CREATE DATABASE "{name}"')
    os.environ["ESCORT_TEST_DATABASE_URL"] = base.set(database=name).render_as_string(hide_password=False)


_database_of_this_worker()


def pytest_collection_modifyitems(config, items):
    """Leave tests marked ``once`` out of the PostgreSQL pass: they never touch the pass's database.

    The evaluation replays real traces into a SQLite file of its own whatever the pass, so the
    second pass would only repeat the same three minutes.
    """
    if not os.environ.get("ESCORT_TEST_DATABASE_URL", "").startswith("postgresql"):
        return
    once = [item for item in items if item.get_closest_marker("once")]
    if once:
        config.hook.pytest_deselected(items=once)
        items[:] = [item for item in items if not item.get_closest_marker("once")]


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
    if not _emptied_at_head(engine):
        upgrade(engine)
    yield app
    engine.dispose()


# PostgreSQL databases this run has migrated to head once: later tests empty their tables
# instead of dropping the schema and migrating again (a second per test, a third of the pass).
_MIGRATED: set[str] = set()


def _head_revisions() -> set[str]:
    """Return the migration heads in the repository."""
    from alembic.script import ScriptDirectory

    from app.db import alembic_config

    return set(ScriptDirectory.from_config(alembic_config("sqlite://")).get_heads())


def _emptied_at_head(engine) -> bool:
    """Make a PostgreSQL test database empty; say whether it is already migrated to head.

    A database this run migrated, and still at head (a migration test may have moved it), has
    its tables truncated with their sequences restarted: the same empty database a fresh
    migration gives. Otherwise the schema is dropped and False tells the caller to migrate.
    SQLite tests each get a new file, so this is PostgreSQL only.
    """
    if engine.dialect.name != "postgresql":
        return False
    from sqlalchemy import text

    key = engine.url.render_as_string(hide_password=False)
    with engine.begin() as conn:
        if key in _MIGRATED:
            at = set()
            if conn.execute(text("SELECT to_regclass('public.alembic_version')")).scalar() is not None:
                at = set(conn.execute(text("SELECT version_num FROM alembic_version")).scalars())
            if at and at == _head_revisions():
                tables = conn.execute(text("SELECT quote_ident(tablename) FROM pg_tables WHERE schemaname = 'public'"
                                           " AND tablename <> 'alembic_version'")).scalars().all()
                if tables:
                    conn.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
                return True
        conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    _MIGRATED.add(key)
    return False


def _reset_postgres(engine) -> None:
    """Drop everything in a PostgreSQL test database (for tests that migrate by hand)."""
    if engine.dialect.name != "postgresql":
        return
    from sqlalchemy import text

    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))


@pytest.fixture(autouse=True, scope="session")
def _one_scrypt_per_secret():
    """Hash each distinct password or PIN once per run, then reuse that hash.

    scrypt is slow on purpose (0.1-0.2 s a hash here), and every test's World creates five
    users with the same password: minutes a pass spent hashing one string. The reused hash is
    still a real salted scrypt hash and every login still checks it with scrypt; only the
    salt is shared between test databases.
    """
    from functools import lru_cache

    import app.auth

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(app.auth, "hash_secret", lru_cache(maxsize=64)(app.auth.hash_secret))
        yield


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
def live(app, world, tmp_path):
    """Serve the test database with a real gunicorn -k gevent process."""
    url = app.extensions["escort"].engine.url.render_as_string(hide_password=False)
    with LiveServer(url, tmp_path) as server:
        yield server


@pytest.fixture
def world(app, session):
    """Return a small world: one user per role, an escort device, a patient and an active trip."""
    from tests.factories import World

    return World.build(app, session)
