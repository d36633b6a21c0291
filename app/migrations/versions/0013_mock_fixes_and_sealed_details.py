"""fix.mock; escorts' emergency contacts and the medication and addresses in trip events and alerts sealed

Existing rows are sealed with the keyring that create_app (or the CLI) installed, as 0008
did for patient sheets; see app/crypto.py.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-01 03:00:00
"""
import json

import sqlalchemy as sa
from alembic import op

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None

CONTACT_COLUMNS = ('emergency_contact_name', 'emergency_contact_email', 'emergency_contact_phone')
# As dispatch.alerts.SEALED_DETAIL, written out: a migration keeps meaning what it meant.
SEALED_DETAIL = ('medication', 'dose', 'key', 'attempts')


def upgrade() -> None:
    with op.batch_alter_table('fix', schema=None) as batch_op:
        batch_op.add_column(sa.Column('mock', sa.Boolean(), nullable=False, server_default=sa.false()))
    conn = op.get_bind()
    users = conn.execute(sa.text(f"SELECT id, {', '.join(CONTACT_COLUMNS)} FROM \"user\"")).all()
    with op.batch_alter_table('user', schema=None) as batch_op:
        for name in CONTACT_COLUMNS:
            batch_op.alter_column(name, type_=sa.Text(), existing_type=sa.String(), existing_nullable=True)
    if not users and not _has_details(conn):
        return
    from app.crypto import current, seal_fields

    keyring = current()
    for uid, *values in users:
        if any(v is not None for v in values):
            conn.execute(sa.text(f"UPDATE \"user\" SET {', '.join(f'{n} = :{n}' for n in CONTACT_COLUMNS)} WHERE id = :id"),
                         {**{n: (keyring.seal(v) if v is not None else None) for n, v in zip(CONTACT_COLUMNS, values)},
                          "id": uid})
    for table in ('trip_event', 'alert'):
        rows = sa.table(table, sa.column('id', sa.Integer), sa.column('detail', sa.JSON))
        for row_id, detail in conn.execute(sa.select(rows.c.id, rows.c.detail)).all():
            detail = json.loads(detail) if isinstance(detail, str) else detail
            if isinstance(detail, dict) and any(k in detail for k in SEALED_DETAIL):
                conn.execute(rows.update().where(rows.c.id == row_id).values(detail=seal_fields(detail, SEALED_DETAIL)))


def _has_details(conn) -> bool:
    """Say whether any trip event or alert exists (whose detail may need sealing)."""
    return any(conn.execute(sa.text(f"SELECT 1 FROM {t} LIMIT 1")).first() for t in ('trip_event', 'alert'))


def downgrade() -> None:
    raise NotImplementedError("sealed contacts and details cannot be downgraded in place; restore a backup")
