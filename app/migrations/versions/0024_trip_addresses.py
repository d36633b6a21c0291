"""trip.pickup_address and trip.dropoff_address: the places in words, for the escort's tablet

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-01 07:30:00
"""
import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = '0024'
down_revision = '0023'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ALTER TABLE … ADD/DROP COLUMN, not a batch: a batch rebuilds "trip", and SQLite
    # refuses to drop a table that other rows still refer to.
    op.add_column('trip', sa.Column('pickup_address', sqlmodel.sql.sqltypes.AutoString(length=300), nullable=True))
    op.add_column('trip', sa.Column('dropoff_address', sqlmodel.sql.sqltypes.AutoString(length=300), nullable=True))


def downgrade() -> None:
    op.drop_column('trip', 'dropoff_address')
    op.drop_column('trip', 'pickup_address')
