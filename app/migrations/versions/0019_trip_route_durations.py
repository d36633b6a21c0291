"""trip.route_durations_s: the router's duration of each route segment, for the live ETA

Revision ID: 0019
Revises: 0016
Create Date: 2026-12-01 06:30:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0019'
down_revision = '0016'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('trip', schema=None) as batch_op:
        batch_op.add_column(sa.Column('route_durations_s', sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('trip', schema=None) as batch_op:
        batch_op.drop_column('route_durations_s')
