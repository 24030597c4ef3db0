"""Months of green events: created ahead, archived to compressed files, restored.

green_events is partitioned by Asia/Shanghai month of started_at (migrations/versions/0009). The
months ahead are created through the owner's `green_events_ensure_partitions`, which the app's
role may call (beat does, daily). Archiving and restoring detach, drop and attach partitions, which
only the tables' owner may do: they take a psycopg connection as that owner (`flask events …`),
and, being operator procedures around files, commit each month themselves.

A month is archived whole, and only once it is settled: no event still `received`, and every
reduction issued or in a rejected batch (nothing would change in it again). Its rows go to
`<dir>/green_events-YYYY-MM.csv.gz` by COPY … TO STDOUT (CSV in id order, times in UTC), with the
file's sha256 beside it (`….sha256`, as sha256sum writes it); `event_archives` keeps the row
count, the file's digest and the digest of the CSV itself, and `event_archive_batches` each
batch's totals, which `registry verify` checks the batch against while its events are away. The
keys stay in event_keys, so a resend of an archived event is still a duplicate. Restoring checks
the file against both digests, COPYs it into a new table, checks the count and the CSV digest
again as PostgreSQL gives the rows back, and attaches it as the month.
"""
import gzip
import hashlib
import json
import os
from dataclasses import dataclass
from datetime import date, datetime, timezone
from pathlib import Path

import psycopg
from psycopg import sql

from accounting.business_day import SHANGHAI
from accounting.record.models import GreenEvent

COLUMNS = [column.name for column in GreenEvent.__table__.columns]
CSV = "(FORMAT csv, HEADER true)"


class ArchiveRefused(Exception):
    """What an operator asked cannot be done as asked; the message says why (in English: the CLI's)."""


@dataclass
class MonthFile:
    month: date
    file: Path
    rows: int
    file_sha256: str
    content_sha256: str


def month_of(text: str) -> date:
    """'YYYY-MM' → the month's first day."""
    try:
        return datetime.strptime(text, "%Y-%m").date()
    except ValueError:
        raise ArchiveRefused(f"{text!r} is not a month (YYYY-MM)") from None


def month_label(month: date) -> str:
    return month.strftime("%Y-%m")


def partition_name(month: date) -> str:
    return f"green_events_p{month:%Y%m}"


def file_name(month: date) -> str:
    return f"green_events-{month_label(month)}.csv.gz"


def bounds(month: date) -> tuple[datetime, datetime]:
    """The month's first instant and the next month's, Asia/Shanghai."""
    following = date(month.year + month.month // 12, month.month % 12 + 1, 1)
    return tuple(datetime(d.year, d.month, 1, tzinfo=SHANGHAI).astimezone(timezone.utc) for d in (month, following))


def ensure_partitions(session, ahead: int) -> list[str]:
    """Create the months up to `ahead` after this one (and any the DEFAULT partition caught); the new ones."""
    from sqlalchemy import text

    return list(session.scalars(text("SELECT green_events_ensure_partitions(:ahead)"), {"ahead": ahead}))


def monthly_partitions(connection: psycopg.Connection) -> list[date]:
    """The months green_events has a partition for, in order."""
    names = connection.execute(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "WHERE i.inhparent = 'green_events'::regclass AND c.relname ~ '^green_events_p[0-9]{6}$'").fetchall()
    return sorted(date(int(name[14:18]), int(name[18:20]), 1) for (name,) in names)


def unsettled(connection: psycopg.Connection, month: date) -> str | None:
    """Why the month cannot be archived yet, or None."""
    received, unissued = connection.execute(sql.SQL(
        "SELECT count(*) FILTER (WHERE e.status = 'received'), "
        "count(*) FILTER (WHERE e.status IN ('quantified', 'capped') AND e.reduction_g > 0 "
        "AND (b.id IS NULL OR b.status NOT IN ('issued', 'rejected'))) "
        "FROM {} e LEFT JOIN issuance_batches b ON b.id = e.issuance_batch_id").format(
            sql.Identifier(partition_name(month)))).fetchone()
    reasons = []
    if received:
        reasons.append(f"{received} event(s) still received (not quantified)")
    if unissued:
        reasons.append(f"{unissued} reduction(s) neither issued nor in a rejected batch")
    return "; ".join(reasons) or None


def _audit(connection: psycopg.Connection, action: str, month: date, payload: dict) -> None:
    connection.execute("SELECT ledger_audit('operator', %s, %s, %s::jsonb, now())",
                       (action, f"events:{month_label(month)}", json.dumps(payload)))


def _copy_out(connection: psycopg.Connection, table: str, sink=None) -> tuple[str, int]:
    """COPY the table's rows (CSV, id order) to `sink`; the digest of the CSV and the row count."""
    digest = hashlib.sha256()
    query = sql.SQL("COPY (SELECT {} FROM {} ORDER BY id) TO STDOUT {}").format(
        sql.SQL(", ").join(map(sql.Identifier, COLUMNS)), sql.Identifier(table), sql.SQL(CSV))
    with connection.cursor().copy(query) as copy:
        for chunk in copy:
            digest.update(chunk)
            if sink is not None:
                sink.write(chunk)
    rows = connection.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table))).fetchone()[0]
    return digest.hexdigest(), rows


def file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _write_file(connection: psycopg.Connection, month: date, directory: Path) -> MonthFile:
    directory.mkdir(parents=True, exist_ok=True)
    final = directory / file_name(month)
    partial = final.with_name(final.name + ".partial")
    with partial.open("wb") as raw:
        with gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as zipped:
            content_sha256, rows = _copy_out(connection, partition_name(month), zipped)
        raw.flush()
        os.fsync(raw.fileno())
    os.replace(partial, final)
    sha256 = file_digest(final)
    final.with_name(final.name + ".sha256").write_text(f"{sha256}  {final.name}\n")
    return MonthFile(month, final, rows, sha256, content_sha256)


def archive_before(connection: psycopg.Connection, before: date, directory: Path) -> list[MonthFile]:
    """Archive every month before `before` (a month's first day) that has a partition.

    Refuses, archiving nothing, if any of them is not settled. Each month is one transaction:
    written, recorded, detached and dropped together (a failure leaves the month in place).
    """
    connection.execute("SELECT green_events_ensure_partitions(0)")  # what the DEFAULT caught goes to its month
    connection.commit()
    months = [month for month in monthly_partitions(connection) if month < before]
    refusals = [f"{month_label(month)}: {why}" for month in months if (why := unsettled(connection, month))]
    connection.rollback()
    if refusals:
        raise ArchiveRefused("not settled, nothing archived: " + "; ".join(refusals))
    done = []
    for month in months:
        table = sql.Identifier(partition_name(month))
        connection.execute("SET LOCAL TIME ZONE 'UTC'")
        connection.execute(sql.SQL("LOCK TABLE {} IN SHARE MODE").format(table))  # nothing changes while written
        if why := unsettled(connection, month):
            connection.rollback()
            raise ArchiveRefused(f"{month_label(month)}: {why} (it changed meanwhile)")
        batches = connection.execute(sql.SQL(
            "SELECT issuance_batch_id, count(*), coalesce(sum(reduction_g), 0), "
            "count(*) FILTER (WHERE status <> 'issued') "
            "FROM {} WHERE issuance_batch_id IS NOT NULL GROUP BY 1").format(table)).fetchall()
        written = _write_file(connection, month, directory)
        connection.execute(
            "INSERT INTO event_archives (month, file_name, rows, file_sha256, content_sha256, archived_at) "
            "VALUES (%s, %s, %s, %s, %s, now()) ON CONFLICT (month) DO UPDATE SET file_name = excluded.file_name, "
            "rows = excluded.rows, file_sha256 = excluded.file_sha256, content_sha256 = excluded.content_sha256, "
            "archived_at = excluded.archived_at, restored_at = NULL",
            (month, written.file.name, written.rows, written.file_sha256, written.content_sha256))
        connection.execute("DELETE FROM event_archive_batches WHERE month = %s", (month,))
        with connection.cursor() as cursor:
            cursor.executemany("INSERT INTO event_archive_batches (month, batch_id, events, reduction_g, not_issued) "
                               "VALUES (%s, %s, %s, %s, %s)", [(month, *batch) for batch in batches])
        _audit(connection, "events_archived", month, {"file": written.file.name, "rows": written.rows,
                                                      "sha256": written.file_sha256})
        connection.execute(sql.SQL("ALTER TABLE green_events DETACH PARTITION {}").format(table))
        connection.execute(sql.SQL("DROP TABLE {}").format(table))
        connection.commit()
        done.append(written)
    return done


def restore(connection: psycopg.Connection, month: date, directory: Path) -> MonthFile:
    """Bring an archived month back from its file, checked, as the month's partition again."""
    found = connection.execute("SELECT file_name, rows, file_sha256, content_sha256 FROM event_archives "
                               "WHERE month = %s AND restored_at IS NULL", (month,)).fetchone()
    if found is None:
        raise ArchiveRefused(f"{month_label(month)} is not archived")
    name, rows, file_sha256, content_sha256 = found
    path = directory / name
    if not path.exists():
        raise ArchiveRefused(f"{path} is missing")
    written_beside = path.with_name(path.name + ".sha256")
    beside = written_beside.read_text().split()[0] if written_beside.exists() else None
    actual = file_digest(path)
    if actual != file_sha256 or beside not in (None, file_sha256):
        raise ArchiveRefused(f"{path}: sha256 {actual}, recorded {file_sha256}, beside it {beside}: not the file "
                             "that was archived")
    table = sql.Identifier(partition_name(month))
    if connection.execute("SELECT to_regclass(%s)", (partition_name(month),)).fetchone()[0] is not None:
        raise ArchiveRefused(f"{partition_name(month)} exists: restore into an empty month only")
    connection.execute("SET LOCAL TIME ZONE 'UTC'")
    connection.execute(sql.SQL("CREATE TABLE {} (LIKE green_events INCLUDING DEFAULTS INCLUDING CONSTRAINTS)")
                       .format(table))
    columns = sql.SQL(", ").join(map(sql.Identifier, COLUMNS))
    with connection.cursor().copy(sql.SQL("COPY {} ({}) FROM STDIN {}").format(table, columns, sql.SQL(CSV))) as copy:
        with gzip.open(path, "rb") as zipped:
            for block in iter(lambda: zipped.read(1 << 20), b""):
                copy.write(block)
    again, counted = _copy_out(connection, partition_name(month))
    strangers = connection.execute(sql.SQL(
        "SELECT count(*) FROM {} e LEFT JOIN event_keys k ON k.source_id = e.source_id "
        "AND k.external_id = e.external_id WHERE k.event_id IS DISTINCT FROM e.id").format(table)).fetchone()[0]
    if counted != rows or again != content_sha256 or strangers:
        connection.rollback()
        raise ArchiveRefused(f"{path}: {counted} rows (recorded {rows}), CSV sha256 {again} (recorded "
                             f"{content_sha256}), {strangers} row(s) whose key another event holds: nothing restored")
    lower, upper = bounds(month)
    # Events of the month that arrived while it was away wait in the DEFAULT partition: they join it.
    connection.execute(sql.SQL("WITH moved AS (DELETE FROM green_events_default WHERE started_at >= %s "
                               "AND started_at < %s RETURNING *) INSERT INTO {} SELECT * FROM moved").format(table),
                       (lower, upper))
    connection.execute(sql.SQL("ALTER TABLE green_events ATTACH PARTITION {} FOR VALUES FROM ({}) TO ({})").format(
        table, sql.Literal(lower), sql.Literal(upper)))
    connection.execute(sql.SQL("ALTER TABLE {} SET (autovacuum_vacuum_scale_factor = 0.02, "
                               "autovacuum_analyze_scale_factor = 0.01)").format(table))
    connection.execute("UPDATE event_archives SET restored_at = now() WHERE month = %s", (month,))
    _audit(connection, "events_restored", month, {"file": name, "rows": rows, "sha256": file_sha256})
    connection.commit()
    return MonthFile(month, path, rows, file_sha256, content_sha256)
