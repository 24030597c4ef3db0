"""hot tables: autovacuum thresholds and room for HOT updates

The default thresholds (20 % of a table dead before vacuum) suit tables that change slowly.
Accounts, campaigns, daily tallies and coupons are updated in place all day, a few rows very
often, and green events once each when quantified; the journal and the audit log only grow, and
need vacuum for their visibility maps and freezing. A lower fillfactor leaves room on each page
so an update of a balance or a count stays on its page (a HOT update: no index entries).
See platform/postgresql.conf for the server's own settings.

Revision ID: 0002_hot_table_autovacuum
Revises: 0001_baseline
Create Date: 2026-12-01 21:30:00

"""
from alembic import op

revision = '0002_hot_table_autovacuum'
down_revision = '0001_baseline'
branch_labels = None
depends_on = None

UPDATED_IN_PLACE = {
    "accounts": "fillfactor = 70, autovacuum_vacuum_scale_factor = 0.01, autovacuum_vacuum_threshold = 500",
    "campaigns": "fillfactor = 70, autovacuum_vacuum_scale_factor = 0.01, autovacuum_vacuum_threshold = 200",
    "daily_tallies": "fillfactor = 80, autovacuum_vacuum_scale_factor = 0.02",
    "coupons": "fillfactor = 90, autovacuum_vacuum_scale_factor = 0.02",
    "credit_blocks": "autovacuum_vacuum_scale_factor = 0.02, autovacuum_analyze_scale_factor = 0.02",
    "green_events": "autovacuum_vacuum_scale_factor = 0.02, autovacuum_analyze_scale_factor = 0.01",
}
ONLY_GROWING = ("journal_transactions", "journal_entries", "block_movements", "audit_records", "batch_lines")
INSERTS = "autovacuum_vacuum_insert_scale_factor = 0.05"


def upgrade():
    for table, parameters in UPDATED_IN_PLACE.items():
        op.execute(f"ALTER TABLE {table} SET ({parameters})")
    for table in ONLY_GROWING:
        op.execute(f"ALTER TABLE {table} SET ({INSERTS})")


def downgrade():
    for table, parameters in UPDATED_IN_PLACE.items():
        names = ", ".join(part.split("=")[0].strip() for part in parameters.split(","))
        op.execute(f"ALTER TABLE {table} RESET ({names})")
    for table in ONLY_GROWING:
        op.execute(f"ALTER TABLE {table} RESET (autovacuum_vacuum_insert_scale_factor)")
