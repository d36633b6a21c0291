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


def test_existing_contacts_and_medications_are_sealed_by_the_upgrade(tmp_path):
    """A database from before sealing (revision 0007) keeps its sheets, now sealed at rest."""
    import json
    import os

    from alembic import command
    from sqlalchemy import text
    from sqlmodel import Session, select

    from app.db import alembic_config, make_engine
    from app.db import upgrade as upgrade_all
    from app import crypto
    from patients.models import Patient
    from tests.conftest import _reset_postgres

    url = os.environ.get("ESCORT_TEST_DATABASE_URL") or f"sqlite:///{tmp_path / 'old.db'}"
    engine = make_engine(url)
    _reset_postgres(engine)
    cfg = alembic_config(url)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0007")
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO patient (name, contacts, medications, created_at) VALUES "
                          "('Old Sheet', :c, :m, CURRENT_TIMESTAMP)"),
                     {"c": json.dumps([{"name": "Zebedee", "phone": "+44 1"}]),
                      "m": json.dumps([{"name": "Xylofenamate", "dose": "1", "times": ["08:00"]}])})
    crypto.install(crypto.keyring_for(None, tmp_path))
    upgrade_all(engine)
    with engine.connect() as conn:
        raw = conn.execute(text("SELECT contacts, medications, details FROM patient")).one()
    assert all(v.startswith("fernet:") for v in raw) and "Zebedee" not in "".join(raw)
    with Session(engine) as session:
        [patient] = session.exec(select(Patient)).all()
        assert patient.contacts == [{"name": "Zebedee", "phone": "+44 1"}]
        assert patient.medications[0]["name"] == "Xylofenamate" and patient.details == {}
    engine.dispose()


def test_the_last_detected_time_moves_out_of_the_state_into_its_column(app, world):
    """0017: ``updated_at`` becomes ``last_fix_received_at``; ``state["last_ts"]`` fills ``last_detected_at``."""
    from datetime import datetime, timedelta, timezone

    import sqlalchemy as sa
    from alembic import command
    from sqlmodel import Session

    from app.db import UTCDateTime, alembic_config, upgrade
    from tracking.models import TripTrackState

    engine = app.extensions["escort"].engine
    cfg = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0016")
    received = datetime(2026, 11, 30, 9, 0, 5, 250000, tzinfo=timezone.utc)
    detected = received - timedelta(seconds=5)
    old = sa.table("trip_track_state", sa.column("trip_id", sa.Integer), sa.column("state", sa.JSON),
                   sa.column("updated_at", UTCDateTime()))
    with engine.begin() as conn:
        conn.execute(old.insert().values(trip_id=world.trip.id, state={"last_ts": detected.isoformat()},
                                         updated_at=received))
    upgrade(engine)
    with Session(engine) as session:
        row = session.get(TripTrackState, world.trip.id)
        assert (row.last_fix_received_at, row.last_detected_at) == (received, detected)
        assert row.state["last_ts"] == detected.isoformat()  # the detectors' own copy stays
