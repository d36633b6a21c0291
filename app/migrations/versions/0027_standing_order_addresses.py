"""standing_order.pickup_address and standing_order.dropoff_address: the places in words, carried to its trips

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-02 01:00:00
"""
import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = '0027'
down_revision = '0026'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ALTER TABLE … ADD/DROP COLUMN, not a batch (a batch rebuilds the table, which
    # standing_order_date refers to).
    op.add_column('standing_order', sa.Column('pickup_address', sqlmodel.sql.sqltypes.AutoString(length=300),
                                              nullable=True))
    op.add_column('standing_order', sa.Column('dropoff_address', sqlmodel.sql.sqltypes.AutoString(length=300),
                                              nullable=True))


def downgrade() -> None:
    op.drop_column('standing_order', 'dropoff_address')
    op.drop_column('standing_order', 'pickup_address')
