"""alert.place (where, in words) and place_cache (reverse geocoding answers by rounded position)

Revision ID: 0020
Revises: 0018
Create Date: 2026-12-01 06:10:00
"""
import sqlalchemy as sa
from alembic import op

import app.db

revision = '0020'
down_revision = '0018'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'place_cache',
        sa.Column('lat_e4', sa.Integer(), autoincrement=False, nullable=False),
        sa.Column('lon_e4', sa.Integer(), autoincrement=False, nullable=False),
        sa.Column('label', sa.String(length=300), nullable=True),
        sa.Column('fetched_at', app.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('lat_e4', 'lon_e4'),
    )
    with op.batch_alter_table('alert', schema=None) as batch_op:
        batch_op.add_column(sa.Column('place', sa.String(length=300), nullable=True))


def downgrade() -> None:
    op.drop_column('alert', 'place')  # not a batch: SQLite would refuse to drop the referenced table
    op.drop_table('place_cache')
