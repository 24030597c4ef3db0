"""registry verifications: every run of `registry verify` recorded, append-only

Each run (the CLI, the bureau's API, the console, the daily beat task) leaves a row: when, ok or
failed, which invariants failed, how it was run; the public page shows the latest. The app role
may only insert and read them: a failed check is never rewritten into a passed one.

Revision ID: 0008_verifications
Revises: 0007_privacy
Create Date: 2026-12-02 10:00:00

"""
import sqlalchemy as sa
from alembic import op
from flask import current_app
from sqlalchemy.dialects import postgresql

import config.db_types  # noqa: F401  (custom column types)

# The lead re-chains this onto 0007_privacy when that lands (the two are independent).
revision = '0008_verifications'
down_revision = '0007_privacy'
branch_labels = None
depends_on = None

METHODS = "'cli', 'api', 'console', 'beat'"


def upgrade():
    op.create_table('registry_verifications',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('verified_at', config.db_types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('ok', sa.Boolean(), nullable=False),
    sa.Column('failed', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('method', sa.String(length=8), nullable=False),
    sa.Column('actor_id', sa.Integer(), nullable=True),
    sa.Column('chain_seq', sa.BigInteger(), nullable=True),
    sa.CheckConstraint(f"method IN ({METHODS})", name=op.f('ck_registry_verifications_method')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_registry_verifications'))
    )
    op.create_index(op.f('ix_registry_verifications_verified_at'), 'registry_verifications', ['verified_at'],
                    unique=False)
    role = current_app.config.get("APP_DB_ROLE", "binzhou_app")
    if op.get_bind().scalar(sa.text("SELECT count(*) FROM pg_roles WHERE rolname = :role"), {"role": role}):
        # 0004's default privileges granted SELECT, INSERT, UPDATE: append-only means no UPDATE (nor DELETE).
        op.execute(f"REVOKE UPDATE, DELETE ON registry_verifications FROM {role}")


def downgrade():
    op.drop_index(op.f('ix_registry_verifications_verified_at'), table_name='registry_verifications')
    op.drop_table('registry_verifications')
