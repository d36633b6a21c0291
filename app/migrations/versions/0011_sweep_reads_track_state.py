"""drop fix (trip_id, received_at): the sweep reads each trip's last receipt from trip_track_state.updated_at

That index cost every fix insert a write to a page of its own trip's (a seventh of the
ingest pipeline's CPU); the detection state row is written with every fresh fix anyway.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-29 14:00:00
"""
from alembic import op

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index('ix_fix_trip_received', table_name='fix')


def downgrade() -> None:
    op.create_index('ix_fix_trip_received', 'fix', ['trip_id', 'received_at'], unique=False)
