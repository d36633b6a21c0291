"""fix identity is (device_id, seq, ts): a reused seq with another time is a new fix, not a repeat

A device whose counter starts again (storage cleared, app reinstalled, a second tablet on the
same token) sent fixes that were acknowledged and dropped as repeats of older ones. The
constraint doubles as the index that finds a device's fixes, so it still leads with device_id.
Downgrading fails while a device has two fixes with one seq (it would have to drop one).

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-01 04:00:00
"""
from alembic import op

revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('fix', schema=None) as batch_op:
        batch_op.drop_constraint('uq_fix_device_seq', type_='unique')
        batch_op.create_unique_constraint('uq_fix_device_seq_ts', ['device_id', 'seq', 'ts'])


def downgrade() -> None:
    with op.batch_alter_table('fix', schema=None) as batch_op:
        batch_op.drop_constraint('uq_fix_device_seq_ts', type_='unique')
        batch_op.create_unique_constraint('uq_fix_device_seq', ['device_id', 'seq'])
