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
    with op.batch_alter_table('trip', schema=None) as batch_op:
        batch_op.drop_column('route_durations_s')
        batch_op.drop_column('route_duration_s')
        batch_op.drop_column('route_distance_m')
        batch_op.drop_column('route_source')
