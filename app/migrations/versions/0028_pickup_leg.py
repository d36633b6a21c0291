"""trip_track_state.pickup_leg: the routed leg from the escort's position to the pickup

Revision ID: 0028
Revises: 0026
Create Date: 2026-12-02 01:00:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0028'
down_revision = '0027'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A plain ADD COLUMN (no batch): SQLite cannot rebuild a table others refer to.
    op.add_column('trip_track_state', sa.Column('pickup_leg', sa.JSON(), nullable=True))


def downgrade() -> None:
    op.drop_column('trip_track_state', 'pickup_leg')
