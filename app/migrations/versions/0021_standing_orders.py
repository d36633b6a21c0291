"""standing orders: repeating trips, and the trip (or the skip) of each of their dates

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-01 07:00:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0021'
down_revision = '0020'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'standing_order',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('patient_id', sa.Integer(), nullable=False),
        sa.Column('escort_user_id', sa.Integer(), nullable=True),
        sa.Column('pickup_lat', sa.Float(), nullable=False),
        sa.Column('pickup_lon', sa.Float(), nullable=False),
        sa.Column('pickup_radius_m', sa.Float(), nullable=False),
        sa.Column('dropoff_lat', sa.Float(), nullable=False),
        sa.Column('dropoff_lon', sa.Float(), nullable=False),
        sa.Column('dropoff_radius_m', sa.Float(), nullable=False),
        sa.Column('route', sa.JSON(), nullable=False),
        sa.Column('allowed_stops', sa.JSON(), nullable=False),
        sa.Column('settings', sa.JSON(), nullable=False),
        sa.Column('pickup_time', sa.String(length=5), nullable=False),
        sa.Column('appointment_time', sa.String(length=5), nullable=True),
        sa.Column('tz', sa.String(length=64), nullable=False),
        sa.Column('days', sa.JSON(), nullable=False),
        sa.Column('starts_on', sa.Date(), nullable=False),
        sa.Column('ends_on', sa.Date(), nullable=False),
        sa.Column('filled_until', sa.Date(), nullable=True),
        sa.Column('active', sa.Boolean(), nullable=False),
        sa.Column('created_by_id', sa.Integer(), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['patient_id'], ['patient.id']),
        sa.ForeignKeyConstraint(['escort_user_id'], ['user.id']),
        sa.ForeignKeyConstraint(['created_by_id'], ['user.id']),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_standing_order_patient_id', 'standing_order', ['patient_id'], unique=False)
    op.create_table(
        'standing_order_date',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('order_id', sa.Integer(), nullable=False),
        sa.Column('on_date', sa.Date(), nullable=False),
        sa.Column('trip_id', sa.Integer(), nullable=True),
        sa.Column('skipped', sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(['order_id'], ['standing_order.id']),
        sa.ForeignKeyConstraint(['trip_id'], ['trip.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('order_id', 'on_date', name='uq_standing_order_date'),
    )
    op.create_index('ix_standing_order_date_order_id', 'standing_order_date', ['order_id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_standing_order_date_order_id', table_name='standing_order_date')
    op.drop_table('standing_order_date')
    op.drop_index('ix_standing_order_patient_id', table_name='standing_order')
    op.drop_table('standing_order')
