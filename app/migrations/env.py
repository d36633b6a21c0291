"""Alembic environment: our models' metadata, on the connection db.upgrade() hands in."""

from alembic import context
from sqlalchemy import create_engine
from sqlmodel import SQLModel

import app.models  # noqa: F401  (registers the tables)
import dispatch.models  # noqa: F401
import patients.models  # noqa: F401
import places.models  # noqa: F401
import tracking.models  # noqa: F401

config = context.config
target_metadata = SQLModel.metadata


def run() -> None:
    """Run the migrations on the given connection, or on a fresh one from the URL."""
    connection = config.attributes.get("connection")
    if connection is not None:
        _migrate(connection)
        return
    engine = create_engine(config.get_main_option("sqlalchemy.url"), hide_parameters=True)
    with engine.begin() as conn:
        _migrate(conn)


def _migrate(connection) -> None:
    """Configure Alembic for this connection and apply."""
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


run()
