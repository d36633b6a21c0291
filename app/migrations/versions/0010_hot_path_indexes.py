"""indexes for the hot paths: fix (trip_id, received_at) for the sweep's latest fix of each trip, trip (updated_at) for ingest's watermark

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-23 12:50:00
"""
from alembic import op

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_fix_trip_received', 'fix', ['trip_id', 'received_at'], unique=False)
    op.create_index('ix_trip_updated_at', 'trip', ['updated_at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_trip_updated_at', table_name='trip')
    op.drop_index('ix_fix_trip_received', table_name='fix')
