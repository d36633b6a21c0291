"""trip_message (a line between the escort and dispatch), user.on_duty, user.code_phrase_hash and user.phone

user.phone is the escort's own phone for the people an escalation reaches, sealed at rest
(app/crypto.py) like the emergency contact: a new column, so there is nothing to seal yet.

Revision ID: 0023
Revises: 0021
Create Date: 2026-12-01 06:30:00
"""
import sqlalchemy as sa
from alembic import op

import app.db

revision = '0023'
down_revision = '0021'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'trip_message',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('trip_id', sa.Integer(), nullable=False),
        sa.Column('side', sa.String(length=10), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=True),
        sa.Column('text', sa.String(length=500), nullable=False),
        sa.Column('at', app.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column('read_at', app.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['trip_id'], ['trip.id']),
        sa.ForeignKeyConstraint(['user_id'], ['user.id']),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_trip_message_trip_id_id', 'trip_message', ['trip_id', 'id'], unique=False)
    # Plain ALTER TABLE … ADD COLUMN, not a batch: a batch rebuilds "user", and SQLite refuses to
    # drop a table that other rows still refer to.
    op.add_column('user', sa.Column('code_phrase_hash', sa.String(length=300), nullable=True))
    op.add_column('user', sa.Column('on_duty', sa.Boolean(), server_default=sa.false(), nullable=False))
    op.add_column('user', sa.Column('phone', sa.Text(), nullable=True))


def downgrade() -> None:
    # Plain ALTER TABLE … DROP COLUMN (SQLite 3.35 and later, PostgreSQL), not a batch: a batch
    # rebuilds "user", and SQLite refuses to drop a table that other rows still refer to.
    for column in ('phone', 'on_duty', 'code_phrase_hash'):
        op.drop_column('user', column)
    op.drop_index('ix_trip_message_trip_id_id', table_name='trip_message')
    op.drop_table('trip_message')
