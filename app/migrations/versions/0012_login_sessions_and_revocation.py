"""login sessions that really end; API token expiry; device revocation; the login throttle's index

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01 03:00:00
"""
import sqlalchemy as sa
import sqlmodel
from alembic import op

import app.db

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'login_session',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('key_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('created_at', app.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column('last_seen_at', app.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column('ended_at', app.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column('ended_reason', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=True),
        sa.Column('remote_addr', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.ForeignKeyConstraint(['user_id'], ['user.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('key_hash'),
    )
    op.create_index('ix_login_session_user_id', 'login_session', ['user_id'], unique=False)
    op.add_column('api_token', sa.Column('expires_at', app.db.UTCDateTime(timezone=True), nullable=True))
    op.add_column('device', sa.Column('revoked_at', app.db.UTCDateTime(timezone=True), nullable=True))
    op.create_index('ix_audit_event_remote_addr_at', 'audit_event', ['remote_addr', 'at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_audit_event_remote_addr_at', table_name='audit_event')
    with op.batch_alter_table('device') as batch_op:
        batch_op.drop_column('revoked_at')
    with op.batch_alter_table('api_token') as batch_op:
        batch_op.drop_column('expires_at')
    op.drop_index('ix_login_session_user_id', table_name='login_session')
    op.drop_table('login_session')
