"""a patient's care coordinator (whose caseload the patient is in)

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23 09:50:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('patient', schema=None) as batch_op:
        batch_op.add_column(sa.Column('coordinator_user_id', sa.Integer(), nullable=True))
        batch_op.create_index('ix_patient_coordinator_user_id', ['coordinator_user_id'], unique=False)
        batch_op.create_foreign_key('fk_patient_coordinator_user_id', 'user', ['coordinator_user_id'], ['id'])


def downgrade() -> None:
    with op.batch_alter_table('patient', schema=None) as batch_op:
        batch_op.drop_constraint('fk_patient_coordinator_user_id', type_='foreignkey')
        batch_op.drop_index('ix_patient_coordinator_user_id')
        batch_op.drop_column('coordinator_user_id')
