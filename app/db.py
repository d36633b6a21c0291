"""One engine per app, a session per request or event, and the schema migrations."""

from __future__ import annotations

from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

from sqlalchemy import DateTime, TypeDecorator, event, text
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.pool import NullPool
from sqlmodel import Session, create_engine

from app.config import make_private_dir

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
# The largest row id: primary keys are INTEGER, 32-bit on PostgreSQL. An id above it names no
# row, and the drivers raise (OverflowError, NumericValueOutOfRange) rather than find nothing.
MAX_ROW_ID = 2**31 - 1
# The database is away (restarting, network cut, pool exhausted): a device is told to send
# again later (503 with Retry-After, or an ack with "retry": true), so nothing is lost.
DB_DOWN = (sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.TimeoutError)


class UTCDateTime(TypeDecorator):
    """A timezone-aware UTC datetime on every backend (SQLite stores it naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        """Store aware datetimes as UTC; refuse naive ones, which are ambiguous."""
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        """Return an aware UTC datetime."""
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)




def utcnow() -> datetime:
    """Return the current time as an aware UTC datetime (only the edges call this)."""
    return datetime.now(timezone.utc)


def make_engine(url: str) -> Engine:
    """Create the engine: SQLite in WAL mode with a busy timeout, or PostgreSQL with a pool.

    Both hide statement parameters from error messages: a failed insert would otherwise quote
    a patient's row into the traceback and the log.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            make_private_dir(Path(parsed.database).parent)  # the database, -wal and -shm live there
        engine = create_engine(
            url,
            hide_parameters=True,
            connect_args={"check_same_thread": False, "timeout": 30},
            poolclass=NullPool if parsed.database in (None, "", ":memory:") else None,
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_size=10, max_overflow=20, pool_pre_ping=True, hide_parameters=True)


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    """WAL for concurrent readers, NORMAL sync (durable at checkpoints), FK checks on."""
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """Yield a session that commits on success and rolls back on error."""
    with Session(engine, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


def alembic_config(url: str):
    """Build the Alembic configuration that points at our migrations and ``url``."""
    from alembic.config import Config as AlembicConfig

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(engine: Engine) -> None:
    """Apply every migration to the engine's database (idempotent)."""
    from alembic import command

    cfg = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "heads")


def ping(engine: Engine) -> None:
    """Run a trivial query; raises when the database does not answer."""
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))


def request_session() -> Session:
    """Return this request's session, opened on first use and closed at teardown."""
    from flask import current_app, g

    if "db_session" not in g:
        g.db_session = Session(current_app.extensions["escort"].engine, expire_on_commit=False)
    return g.db_session


def close_request_session(_exc=None) -> None:
    """Close the request's session, rolling back whatever was not committed."""
    from flask import g

    session = g.pop("db_session", None)
    if session is not None:
        session.close()
