"""trip_track_state: the last fix received and the last detected fix time as real columns

``updated_at`` meant "the trip's latest fix was received" and is renamed so; the time of
the last fix detection used, which the sweep's check-in clock read out of the state's JSON
(``state["last_ts"]``), becomes ``last_detected_at``, filled from that JSON here.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-01 06:30:00
"""
from datetime import datetime, timezone

import sqlalchemy as sa
from alembic import op

from app.db import UTCDateTime

revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('trip_track_state', schema=None) as batch_op:
        batch_op.alter_column('updated_at', new_column_name='last_fix_received_at',
                              existing_type=sa.DateTime(timezone=True), existing_nullable=False)
        batch_op.add_column(sa.Column('last_detected_at', UTCDateTime(), nullable=True))
    states = sa.table('trip_track_state', sa.column('trip_id', sa.Integer), sa.column('state', sa.JSON),
                      sa.column('last_detected_at', UTCDateTime()))
    bind = op.get_bind()
    for trip_id, state in bind.execute(sa.select(states.c.trip_id, states.c.state)).all():
        last_ts = (state or {}).get('last_ts')
        if last_ts:
            at = datetime.fromisoformat(last_ts)
            at = at.replace(tzinfo=timezone.utc) if at.tzinfo is None else at.astimezone(timezone.utc)
            bind.execute(states.update().where(states.c.trip_id == trip_id).values(last_detected_at=at))


def downgrade() -> None:
    with op.batch_alter_table('trip_track_state', schema=None) as batch_op:
        batch_op.drop_column('last_detected_at')
        batch_op.alter_column('last_fix_received_at', new_column_name='updated_at',
                              existing_type=sa.DateTime(timezone=True), existing_nullable=False)
