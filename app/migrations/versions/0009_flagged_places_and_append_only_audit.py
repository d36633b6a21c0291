"""flagged places; the audit log made append-only in the database

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-23 10:30:00

The audit log refuses UPDATE and DELETE with a trigger on SQLite and PostgreSQL alike, so
not even the application can rewrite what it recorded.
"""
import sqlalchemy as sa
from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'flagged_place',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('label', sa.String(length=200), nullable=False),
        sa.Column('category', sa.String(length=40), nullable=False),
        sa.Column('reason', sa.String(length=1000), nullable=False),
        sa.Column('lat', sa.Float(), nullable=True),
        sa.Column('lon', sa.Float(), nullable=True),
        sa.Column('radius_m', sa.Float(), nullable=True),
        sa.Column('ring', sa.JSON(), nullable=False),
        sa.Column('active', sa.Boolean(), nullable=False),
        sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('created_by_id', sa.Integer(), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['created_by_id'], ['user.id']),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_flagged_place_expires_at', 'flagged_place', ['expires_at'], unique=False)
    if op.get_bind().dialect.name == 'postgresql':
        op.execute("""
            CREATE FUNCTION audit_event_append_only() RETURNS trigger AS $$
            BEGIN RAISE EXCEPTION 'the audit log is append-only'; END;
            $$ LANGUAGE plpgsql""")
        op.execute("""CREATE TRIGGER audit_event_no_change BEFORE UPDATE OR DELETE ON audit_event
                      FOR EACH ROW EXECUTE FUNCTION audit_event_append_only()""")
    else:
        for verb in ('UPDATE', 'DELETE'):
            op.execute(f"""CREATE TRIGGER audit_event_no_{verb.lower()} BEFORE {verb} ON audit_event
                           BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END""")


def downgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        op.execute("DROP TRIGGER audit_event_no_change ON audit_event")
        op.execute("DROP FUNCTION audit_event_append_only()")
    else:
        op.execute("DROP TRIGGER audit_event_no_update")
        op.execute("DROP TRIGGER audit_event_no_delete")
    op.drop_index('ix_flagged_place_expires_at', table_name='flagged_place')
    op.drop_table('flagged_place')
