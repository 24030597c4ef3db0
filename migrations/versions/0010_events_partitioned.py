"""green events partitioned by month; duplicate keys in event_keys; archived months written down

The events table grows by every trip of every resident. It becomes a declarative RANGE partition
of Asia/Shanghai months of `started_at` (the time the action happened: issuance takes a day of it,
daily tallies and batches are per day of it, so each lies in one month, and a month stops changing
once its reductions are issued; `received_at` would split a day's events over two months). Every
index is defined on the parent, so each month has them; a DEFAULT partition catches an event of a
month nobody created (ingest never fails for it) and `green_events_ensure_partitions` moves such
rows out when it creates the month, so archiving sees whole months.

A unique index of a partitioned table must hold the partition key, and a resend of an event with
another time must still be the same event: the (source, external_id) guard moves to `event_keys`
(not partitioned, never archived, so a resend stays a duplicate after its month is archived),
which ingest claims in the statement that inserts the events and a statement trigger claims for
any other writer. The primary key becomes (id, started_at). review_flags.event_id keeps the id but
loses its foreign key: a flag outlives its event's month being archived to a file (a foreign key
to (id, started_at) would forbid detaching any month with a flag).

`event_archives` and `event_archive_batches` remember each archived month (file, checksums, and
each batch's totals, which `registry verify` checks while the rows are away).

Revision ID: 0010_events_partitioned
Revises: 0009_auction_revocations
Create Date: 2026-12-07 20:40:00

"""
from pathlib import Path

import sqlalchemy as sa
from alembic import op
from flask import current_app

from config.db_types import UTCDateTime

SQL = Path(__file__).resolve().parent.parent / "sql"
FUNCTIONS = ("green_events_ensure_partitions(integer, date)", "green_events_create_partition(date)",
             "green_events_claim_keys()", "green_events_identity_fixed()")
AHEAD_MONTHS = 3

revision = '0010_events_partitioned'
down_revision = '0009_auction_revocations'
branch_labels = None
depends_on = None

INDEXES = {
    "ix_green_events_account_id_id": "(account_id, id)",
    "ix_green_events_account_id_started_at": "(account_id, started_at)",
    "ix_green_events_received_lane": "((account_id % 4), id) WHERE status = 'received'",
    "ix_green_events_unbatched": "(started_at) WHERE issuance_batch_id IS NULL AND status IN ('quantified', 'capped')",
    "ix_green_events_issuance_batch_id": "(issuance_batch_id) WHERE issuance_batch_id IS NOT NULL",
}
FOREIGN_KEYS = {
    "fk_green_events_account_id_accounts": ("account_id", "accounts"),
    "fk_green_events_issuance_batch_id_issuance_batches": ("issuance_batch_id", "issuance_batches"),
    "fk_green_events_methodology_version_id_methodology_versions": ("methodology_version_id", "methodology_versions"),
    "fk_green_events_source_id_data_sources": ("source_id", "data_sources"),
    "fk_green_events_station_id_stations": ("station_id", "stations"),
}
AUTOVACUUM = "autovacuum_vacuum_scale_factor = 0.02, autovacuum_analyze_scale_factor = 0.01"


def _role() -> str | None:
    role = current_app.config.get("APP_DB_ROLE", "binzhou_app")
    exists = op.get_bind().scalar(sa.text("SELECT count(*) FROM pg_roles WHERE rolname = :role"), {"role": role})
    return role if exists else None


def _rebuild(source: str, target: str, partitioned: bool) -> None:
    """`target` with `source`'s columns, defaults and checks, and the keys and indexes of the events."""
    op.execute(f"CREATE TABLE {target} (LIKE {source} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)"
               + (" PARTITION BY RANGE (started_at)" if partitioned else ""))
    key = "id, started_at" if partitioned else "id"
    op.execute(f"ALTER TABLE {target} ADD CONSTRAINT pk_green_events PRIMARY KEY ({key})")
    for name, (column, table) in FOREIGN_KEYS.items():
        op.execute(f"ALTER TABLE {target} ADD CONSTRAINT {name} FOREIGN KEY ({column}) REFERENCES {table} (id)")


def _indexes(table: str) -> None:
    for name, definition in INDEXES.items():
        columns, _, where = definition.partition(" WHERE ")
        op.execute(f"CREATE INDEX {name} ON {table} {columns}" + (f" WHERE {where}" if where else ""))


def _set_aside_old_table() -> None:
    op.execute("ALTER TABLE green_events RENAME TO green_events_old")
    op.execute("ALTER TABLE green_events_old RENAME CONSTRAINT pk_green_events TO pk_green_events_old")
    for name in INDEXES:
        op.execute(f"DROP INDEX {name}")


def upgrade():
    op.create_table(
        'event_keys',
        sa.Column('source_id', sa.Integer(), nullable=False),
        sa.Column('external_id', sa.String(length=128), nullable=False),
        sa.Column('event_id', sa.BigInteger(), nullable=False),
        sa.Column('started_at', UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('source_id', 'external_id', name=op.f('pk_event_keys')),
    )
    op.create_table(
        'event_archives',
        sa.Column('month', sa.Date(), nullable=False),
        sa.Column('file_name', sa.String(length=200), nullable=False),
        sa.Column('rows', sa.BigInteger(), nullable=False),
        sa.Column('file_sha256', sa.String(length=64), nullable=False),
        sa.Column('content_sha256', sa.String(length=64), nullable=False),
        sa.Column('archived_at', UTCDateTime(timezone=True), nullable=False),
        sa.Column('restored_at', UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('month', name=op.f('pk_event_archives')),
    )
    op.create_table(
        'event_archive_batches',
        sa.Column('month', sa.Date(), nullable=False),
        sa.Column('batch_id', sa.Integer(), nullable=False),
        sa.Column('events', sa.BigInteger(), nullable=False),
        sa.Column('reduction_g', sa.BigInteger(), nullable=False),
        sa.Column('not_issued', sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(['month'], ['event_archives.month'],
                                name=op.f('fk_event_archive_batches_month_event_archives')),
        sa.PrimaryKeyConstraint('month', 'batch_id', name=op.f('pk_event_archive_batches')),
    )
    op.drop_constraint("fk_review_flags_event_id_green_events", "review_flags", type_="foreignkey")
    op.drop_constraint("uq_green_events_source_external", "green_events", type_="unique")
    _set_aside_old_table()
    _rebuild("green_events_old", "green_events", partitioned=True)
    _indexes("green_events")
    op.execute("CREATE TABLE green_events_default PARTITION OF green_events DEFAULT")
    op.execute(f"ALTER TABLE green_events_default SET ({AUTOVACUUM})")
    op.execute((SQL / "0009_event_partitions.sql").read_text())
    # The months the events already have, and a few ahead; then the rows, keys first.
    op.execute(f"SELECT green_events_ensure_partitions({AHEAD_MONTHS}, (SELECT min(started_at AT TIME ZONE "
               "'Asia/Shanghai')::date FROM green_events_old))")
    op.execute("INSERT INTO event_keys (source_id, external_id, event_id, started_at) "
               "SELECT source_id, external_id, id, started_at FROM green_events_old")
    op.execute("INSERT INTO green_events SELECT * FROM green_events_old")
    op.execute("ALTER SEQUENCE green_events_id_seq OWNED BY green_events.id")
    op.execute("DROP TABLE green_events_old")
    op.execute("CREATE TRIGGER green_events_claim_keys AFTER INSERT ON green_events "
               "REFERENCING NEW TABLE AS new_events FOR EACH STATEMENT EXECUTE FUNCTION green_events_claim_keys()")
    op.execute("CREATE TRIGGER green_events_identity_fixed BEFORE UPDATE OF id, source_id, external_id, started_at "
               "ON green_events FOR EACH ROW EXECUTE FUNCTION green_events_identity_fixed()")
    op.execute("REVOKE ALL ON FUNCTION green_events_ensure_partitions(integer, date), "
               "green_events_create_partition(date) FROM PUBLIC")
    role = _role()
    if role:
        # The events as before (read, insert, quantify and issue in place); keys only claimed; the
        # archive's records are the owner's to write. Months ahead through the owner's function.
        op.execute(f"GRANT SELECT, INSERT, UPDATE ON green_events TO {role}")
        op.execute(f"REVOKE UPDATE, DELETE ON event_keys FROM {role}")
        op.execute(f"GRANT SELECT, INSERT ON event_keys TO {role}")
        op.execute(f"REVOKE INSERT, UPDATE, DELETE ON event_archives, event_archive_batches FROM {role}")
        op.execute(f"GRANT SELECT ON event_archives, event_archive_batches TO {role}")
        op.execute(f"GRANT EXECUTE ON FUNCTION green_events_ensure_partitions(integer, date) TO {role}")


def downgrade():
    archived = op.get_bind().scalar(sa.text("SELECT count(*) FROM event_archives WHERE restored_at IS NULL"))
    if archived:
        raise RuntimeError(f"{archived} archived month(s) of green events: restore them first "
                           "(flask events restore YYYY-MM), or their rows would be lost")
    op.execute("DROP TRIGGER green_events_claim_keys ON green_events")
    op.execute("DROP TRIGGER green_events_identity_fixed ON green_events")
    op.execute("ALTER TABLE green_events RENAME TO green_events_old")
    op.execute("ALTER TABLE green_events_old RENAME CONSTRAINT pk_green_events TO pk_green_events_old")
    for name in INDEXES:
        op.execute(f"DROP INDEX {name}")
    _rebuild("green_events_old", "green_events", partitioned=False)
    op.execute("INSERT INTO green_events SELECT * FROM green_events_old")
    op.execute("ALTER SEQUENCE green_events_id_seq OWNED BY green_events.id")
    op.execute("DROP TABLE green_events_old")  # and its partitions
    _indexes("green_events")
    op.create_unique_constraint("uq_green_events_source_external", "green_events", ["source_id", "external_id"])
    op.create_foreign_key("fk_review_flags_event_id_green_events", "review_flags", "green_events",
                          ["event_id"], ["id"])
    op.execute(f"ALTER TABLE green_events SET ({AUTOVACUUM})")
    for function in FUNCTIONS:
        op.execute(f"DROP FUNCTION {function}")
    op.drop_table('event_archive_batches')
    op.drop_table('event_archives')
    op.drop_table('event_keys')
    role = _role()
    if role:
        op.execute(f"GRANT SELECT, INSERT, UPDATE ON green_events TO {role}")
