"""trip.checkin_reminded_for: the check-in due time the escort's tablet was last reminded of

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-01 03:50:00
"""
import sqlalchemy as sa
from alembic import op

import app.db

revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('trip', schema=None) as batch_op:
        batch_op.add_column(sa.Column('checkin_reminded_for', app.db.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('trip', schema=None) as batch_op:
        batch_op.drop_column('checkin_reminded_for')
