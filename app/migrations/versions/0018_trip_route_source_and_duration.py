"""trips keep where their planned route came from and, when computed, its length and time

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-01 06:30:00
"""
import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('trip', schema=None) as batch_op:
        batch_op.add_column(sa.Column('route_source', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True))
        batch_op.add_column(sa.Column('route_distance_m', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('route_duration_s', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('route_durations_s', sa.JSON(), nullable=True))


def downgrade() -> None:
    # Plain ALTER TABLE … DROP COLUMN (SQLite 3.35 and later, PostgreSQL), not a batch: a batch
    # rebuilds "trip", and SQLite refuses to drop a table that other rows still refer to.
    for column in ('route_durations_s', 'route_duration_s', 'route_distance_m', 'route_source'):
        op.drop_column('trip', column)
