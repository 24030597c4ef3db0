"""daily tallies partitioned by month (issue 12: costs that stay flat as the city grows)

A daily tally is one row per resident per day on which something was credited: a city's years of
them are residents × days. Keyed (account_id, day) in one table, each resident's rows fill a leaf
page of their own, and a quantification batch, which reads and upserts the tallies of the claim
window's week, touched as many index pages as it had residents (measured with 10,000,000 stored
events, 7.4 M tallies, read cold: 198 ms for 3,000 residents' week against 19 ms on an empty table;
bench/growth.py's quantify ratio stored/empty was 0.86-0.94, with this 1.00-1.06).
Partitioned by month of `day` (RANGE; the key already holds it), the week's tallies sit in the
current month's table (and the previous one's, a month's first week), as small as on the first day
whatever the past holds. A DEFAULT partition catches a day of a month nobody created, and
`daily_tallies_ensure_partitions` (beat, nightly, with the events' months) moves such rows out.

Revision ID: 0013_tallies_partitioned
Revises: 0012_lean_movement
Create Date: 2026-12-08 01:00:00

"""
from pathlib import Path

import sqlalchemy as sa
from alembic import op
from flask import current_app

SQL = Path(__file__).resolve().parent.parent / "sql"
FUNCTIONS = ("daily_tallies_ensure_partitions(integer, date)", "daily_tallies_create_partition(date)")
AHEAD_MONTHS = 3
# What 0002 set on the table, now on each partition (a partitioned parent has no storage of its own).
STORAGE = "fillfactor = 80, autovacuum_vacuum_scale_factor = 0.02"

revision = '0013_tallies_partitioned'
down_revision = '0012_lean_movement'
branch_labels = None
depends_on = None


def _role() -> str | None:
    role = current_app.config.get("APP_DB_ROLE", "binzhou_app")
    exists = op.get_bind().scalar(sa.text("SELECT count(*) FROM pg_roles WHERE rolname = :role"), {"role": role})
    return role if exists else None


def _rebuild(partitioned: bool) -> None:
    """A new daily_tallies with the old one's columns, checks, key and foreign key, then its rows."""
    op.execute("ALTER TABLE daily_tallies RENAME TO daily_tallies_old")
    op.execute("ALTER TABLE daily_tallies_old RENAME CONSTRAINT pk_daily_tallies TO pk_daily_tallies_old")
    op.execute("CREATE TABLE daily_tallies (LIKE daily_tallies_old INCLUDING DEFAULTS INCLUDING CONSTRAINTS)"
               + (" PARTITION BY RANGE (day)" if partitioned else f" WITH ({STORAGE})"))
    op.execute("ALTER TABLE daily_tallies ADD CONSTRAINT pk_daily_tallies PRIMARY KEY (account_id, day)")
    op.execute("ALTER TABLE daily_tallies ADD CONSTRAINT fk_daily_tallies_account_id_accounts "
               "FOREIGN KEY (account_id) REFERENCES accounts (id)")
    if partitioned:
        op.execute("CREATE TABLE daily_tallies_default PARTITION OF daily_tallies DEFAULT")
        op.execute(f"ALTER TABLE daily_tallies_default SET ({STORAGE})")
        op.execute((SQL / "0013_tally_partitions.sql").read_text())
        # The months the tallies already have, and a few ahead, before the rows.
        op.execute(f"SELECT daily_tallies_ensure_partitions({AHEAD_MONTHS}, "
                   "(SELECT min(day) FROM daily_tallies_old))")
    op.execute("INSERT INTO daily_tallies SELECT * FROM daily_tallies_old")
    op.execute("DROP TABLE daily_tallies_old")
    role = _role()
    if role:
        op.execute(f"GRANT SELECT, INSERT, UPDATE ON daily_tallies TO {role}")


def upgrade():
    _rebuild(partitioned=True)
    op.execute(f"REVOKE ALL ON FUNCTION {', '.join(FUNCTIONS)} FROM PUBLIC")
    role = _role()
    if role:
        op.execute(f"GRANT EXECUTE ON FUNCTION daily_tallies_ensure_partitions(integer, date) TO {role}")


def downgrade():
    _rebuild(partitioned=False)  # dropping the old table drops its partitions
    for function in FUNCTIONS:
        op.execute(f"DROP FUNCTION {function}")
