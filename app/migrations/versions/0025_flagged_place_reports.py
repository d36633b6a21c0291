"""flagged places reported by escorts: status (published, reported, declined), reporter, reviewer

Revision ID: 0025
Revises: 0026
Create Date: 2026-12-02 01:00:00
"""
import sqlalchemy as sa
import sqlmodel
from alembic import op


revision = '0025'
down_revision = '0024'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Existing rows were made by dispatchers: they are published.
    with op.batch_alter_table('flagged_place', schema=None) as batch_op:
        batch_op.add_column(sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False,
                                      server_default='published'))
        batch_op.add_column(sa.Column('reported_by_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('reported_trip_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('reviewed_by_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('reviewed_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('decline_reason', sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=True))
        batch_op.create_foreign_key('fk_flagged_place_reported_by_id_user', 'user', ['reported_by_id'], ['id'])
        batch_op.create_foreign_key('fk_flagged_place_reported_trip_id_trip', 'trip', ['reported_trip_id'], ['id'])
        batch_op.create_foreign_key('fk_flagged_place_reviewed_by_id_user', 'user', ['reviewed_by_id'], ['id'])


def downgrade() -> None:
    with op.batch_alter_table('flagged_place', schema=None) as batch_op:
        batch_op.drop_constraint('fk_flagged_place_reviewed_by_id_user', type_='foreignkey')
        batch_op.drop_constraint('fk_flagged_place_reported_trip_id_trip', type_='foreignkey')
        batch_op.drop_constraint('fk_flagged_place_reported_by_id_user', type_='foreignkey')
        batch_op.drop_column('decline_reason')
        batch_op.drop_column('reviewed_at')
        batch_op.drop_column('reviewed_by_id')
        batch_op.drop_column('reported_trip_id')
        batch_op.drop_column('reported_by_id')
        batch_op.drop_column('status')
