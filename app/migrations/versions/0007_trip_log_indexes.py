"""indexes for the trip log: lists filtered and paged by scheduled pickup, timelines by time

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-23 10:00:00
"""
from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

# (name, table, columns): the keyset (scheduled_pickup_at, id) with and without each filter.
INDEXES = (
    ('ix_trip_scheduled_id', 'trip', ['scheduled_pickup_at', 'id']),
    ('ix_trip_patient_scheduled', 'trip', ['patient_id', 'scheduled_pickup_at']),
    ('ix_trip_escort_scheduled', 'trip', ['escort_user_id', 'scheduled_pickup_at']),
    ('ix_trip_status_scheduled', 'trip', ['status', 'scheduled_pickup_at']),
    ('ix_trip_event_trip_at', 'trip_event', ['trip_id', 'at']),
)


def upgrade() -> None:
    for name, table, columns in INDEXES:
        op.create_index(name, table, columns, unique=False)


def downgrade() -> None:
    for name, table, _columns in reversed(INDEXES):
        op.drop_index(name, table_name=table)
