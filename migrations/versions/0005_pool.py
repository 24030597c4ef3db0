"""the pool (碳普惠池): residents donate credits to it

A system account of the bureau, `SYSPOOL`, and a movement kind `donate`.

Revision ID: 0005_pool
Revises: 0004_app_role
Create Date: 2026-12-01 22:20:00

"""
from alembic import op

revision = '0005_pool'
down_revision = '0004_app_role'
branch_labels = None
depends_on = None

ACCOUNT_KINDS = "'holder', 'issuance', 'escrow', 'retirement', 'revocation'"
TRANSACTION_KINDS = "'issue', 'transfer', 'claim', 'release', 'redeem', 'retire', 'revoke'"


def upgrade():
    op.drop_constraint(op.f("ck_accounts_kind"), "accounts", type_="check")
    op.create_check_constraint("kind", "accounts", f"kind IN ({ACCOUNT_KINDS}, 'pool')")
    op.drop_constraint(op.f("ck_journal_transactions_kind"), "journal_transactions", type_="check")
    op.create_check_constraint("kind", "journal_transactions", f"kind IN ({TRANSACTION_KINDS}, 'donate')")
    op.execute("INSERT INTO accounts (number, kind, balance_g, created_at) VALUES ('SYSPOOL', 'pool', 0, now()) "
               "ON CONFLICT (number) DO NOTHING")


def downgrade():
    op.execute("DELETE FROM accounts WHERE number = 'SYSPOOL'")
    op.drop_constraint(op.f("ck_journal_transactions_kind"), "journal_transactions", type_="check")
    op.create_check_constraint("kind", "journal_transactions", f"kind IN ({TRANSACTION_KINDS})")
    op.drop_constraint(op.f("ck_accounts_kind"), "accounts", type_="check")
    op.create_check_constraint("kind", "accounts", f"kind IN ({ACCOUNT_KINDS})")
