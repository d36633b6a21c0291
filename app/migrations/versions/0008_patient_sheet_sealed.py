"""the whole patient sheet; contacts, medications and details sealed at rest (Fernet)

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-23 10:10:00

Existing contacts and medications are sealed with the keyring that create_app (or the CLI)
installed; see app/crypto.py.
"""
import json

import sqlalchemy as sa
from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    conn = op.get_bind()
    rows = conn.execute(sa.text("SELECT id, contacts, medications FROM patient")).all()
    with op.batch_alter_table('patient', schema=None) as batch_op:
        batch_op.add_column(sa.Column('member_id', sa.String(length=60), nullable=True))
        batch_op.add_column(sa.Column('language', sa.String(length=60), nullable=True))
        batch_op.add_column(sa.Column('interpreter_needed', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column('mobility', sa.String(length=20), nullable=False, server_default='ambulatory'))
        batch_op.add_column(sa.Column('assistance', sa.String(length=20), nullable=False,
                                      server_default='door_to_door'))
        batch_op.add_column(sa.Column('details', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('updated_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index('ix_patient_member_id', ['member_id'], unique=False)
        batch_op.alter_column('contacts', type_=sa.Text(), existing_nullable=False,
                              postgresql_using='contacts::text')
        batch_op.alter_column('medications', type_=sa.Text(), existing_nullable=False, server_default=None,
                              existing_server_default='[]', postgresql_using='medications::text')
    if rows:
        from app.crypto import current

        keyring = current()
        for pid, contacts, medications in rows:
            contacts = json.loads(contacts) if isinstance(contacts, str) else (contacts or [])
            medications = json.loads(medications) if isinstance(medications, str) else (medications or [])
            conn.execute(sa.text("UPDATE patient SET contacts = :c, medications = :m, details = :d WHERE id = :id"),
                         {"c": keyring.seal(contacts), "m": keyring.seal(medications), "d": keyring.seal({}),
                          "id": pid})
    with op.batch_alter_table('patient', schema=None) as batch_op:
        batch_op.alter_column('details', existing_type=sa.Text(), nullable=False)


def downgrade() -> None:
    raise NotImplementedError("sealed patient sheets cannot be downgraded in place; restore a backup")
