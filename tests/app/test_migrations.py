"""The migrations build exactly the schema the models describe, on SQLite and PostgreSQL alike."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlmodel import SQLModel


def test_migrated_schema_matches_the_models(app):
    engine = app.extensions["escort"].engine
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diffs = compare_metadata(context, SQLModel.metadata)
    assert diffs == [], "run: alembic revision --autogenerate (see app/db.py alembic_config)"


def test_upgrade_is_idempotent(app):
    from app.db import upgrade

    upgrade(app.extensions["escort"].engine)  # already at head: nothing to do, no error
