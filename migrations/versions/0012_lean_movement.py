"""the movement in fewer, cheaper statements (issue 12)

ledger_move, ledger_take and ledger_audit keep their arguments, results and rows written; see
migrations/sql/0012_lean_movement.sql for what each call no longer costs the server.

Revision ID: 0012_lean_movement
Revises: 0011_campaign_escrow
Create Date: 2026-12-07 22:45:00

"""
import re
from pathlib import Path

from alembic import op

SQL = Path(__file__).resolve().parent.parent / "sql"

# revision identifiers, used by Alembic.
revision = '0012_lean_movement'
down_revision = '0011_campaign_escrow'
branch_labels = None
depends_on = None

AUDIT_AS_BEFORE = """
CREATE OR REPLACE FUNCTION ledger_audit(p_actor text, p_action text, p_subject text, p_payload jsonb, p_at timestamptz)
RETURNS void LANGUAGE sql AS $$
    INSERT INTO audit_records (actor, action, subject, payload, payload_digest, created_at)
    VALUES (p_actor, p_action, p_subject, p_payload, encode(sha256(convert_to(p_payload::text, 'UTF8')), 'hex'), p_at)
$$;
"""


def upgrade():
    op.execute((SQL / "0012_lean_movement.sql").read_text())


def _function_from(path: Path, name: str) -> str:
    """A function's definition as an earlier migration's SQL file wrote it (to put it back)."""
    match = re.search(rf"CREATE (?:OR REPLACE )?FUNCTION {name}\(.*?\nEND \$\$[^;]*;", path.read_text(), re.S)
    return "CREATE OR REPLACE FUNCTION" + match.group(0).split("FUNCTION", 1)[1]


def downgrade():
    op.execute(_function_from(SQL / "0006_market_ledger.sql", "ledger_move"))
    op.execute(_function_from(SQL / "0006_market_ledger.sql", "ledger_take"))
    op.execute("DROP FUNCTION ledger_take_ranges")
    op.execute(AUDIT_AS_BEFORE)
