"""live_link: a time-limited, read-only live-location link for one alert (responders outside the company)

Revision ID: 0026
Revises: 0024
Create Date: 2026-12-02 01:00:00
"""
import sqlalchemy as sa
from alembic import op

import app.db

revision = '0026'
down_revision = '0024'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'live_link',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('token_hash', sa.String(length=64), nullable=False),
        sa.Column('alert_id', sa.Integer(), nullable=False),
        sa.Column('trip_id', sa.Integer(), nullable=True),
        sa.Column('created_at', app.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column('expires_at', app.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column('revoked_at', app.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column('created_by_id', sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(['alert_id'], ['alert.id']),
        sa.ForeignKeyConstraint(['trip_id'], ['trip.id']),
        sa.ForeignKeyConstraint(['created_by_id'], ['user.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('token_hash'),
    )
    op.create_index(op.f('ix_live_link_alert_id'), 'live_link', ['alert_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_live_link_alert_id'), table_name='live_link')
    op.drop_table('live_link')
