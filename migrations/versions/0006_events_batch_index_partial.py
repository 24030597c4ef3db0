"""events: the batch index leaves out events no batch holds yet

Every quantification write (received → quantified) added a NULL entry to
ix_green_events_issuance_batch_id; it is only read for `issuance_batch_id = :batch`, which a
partial index on the non-NULL rows answers the same.

Revision ID: 0006_events_batch_index_partial
Revises: 0005_ledger_hot_path
Create Date: 2026-11-29 06:10:00

"""
from alembic import op
import sqlalchemy as sa


revision = '0006_events_batch_index_partial'
down_revision = '0005_ledger_hot_path'
branch_labels = None
depends_on = None

NOT_NULL = sa.text("issuance_batch_id IS NOT NULL")


def upgrade():
    with op.batch_alter_table('green_events', schema=None) as batch_op:
        batch_op.drop_index('ix_green_events_issuance_batch_id')
        batch_op.create_index('ix_green_events_issuance_batch_id', ['issuance_batch_id'], unique=False,
                              postgresql_where=NOT_NULL, sqlite_where=NOT_NULL)


def downgrade():
    with op.batch_alter_table('green_events', schema=None) as batch_op:
        batch_op.drop_index('ix_green_events_issuance_batch_id')
        batch_op.create_index('ix_green_events_issuance_batch_id', ['issuance_batch_id'], unique=False)
