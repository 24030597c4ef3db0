"""Everything held about a resident, as one zip (PIPL art. 45: access and portability).

`export.json` holds it all; beside it one CSV per table (profile, consents, events, ledger,
coupons, transfers, retirements, donations), the resident's own rows only, grams as whole
numbers, times in China Standard Time with their offset. The zip is written while it is sent:
each table is read once, through a server-side cursor, a few thousand rows at a time, and each
row goes to its CSV (compressed and handed to the client every few hundred rows) and to
export.json's spool; so 10,000 events take little more memory than 10 (bench/export.py). All of
it is read in one read-only REPEATABLE READ transaction of its own: one snapshot, in which the
ledger's amounts sum to the profile's balance.
"""
import csv
import io
import json
import tempfile
import zipfile
from dataclasses import dataclass
from typing import Iterator

from sqlalchemy import text
from sqlalchemy.engine import Engine

from accounting.issuance.summary import WAITING_BATCH_STATUSES
from accounting.ledger.serials import serial_range
from api.csv_export import neutralised

FORMAT = "binzhou-carbon-export/1"
ROWS_PER_CHUNK = 500
FETCH_ROWS = 2000
JSON_SPOOL_BYTES = 4 * 1024 * 1024
COPY_BYTES = 256 * 1024

# The serial ranges a transaction moved from or to the account (as three parallel arrays, made
# into `BZ-…-000000001-000000468` strings by accounting.ledger.serials, the one place that formats them).
_SERIALS = """(SELECT coalesce(array_agg(i.serial_prefix ORDER BY b.batch_id, m.first_serial), '{}'),
                      coalesce(array_agg(m.first_serial ORDER BY b.batch_id, m.first_serial), '{}'),
                      coalesce(array_agg(m.last_serial ORDER BY b.batch_id, m.first_serial), '{}')
               FROM block_movements AS m JOIN credit_blocks AS b ON b.id = m.block_id
               JOIN issuance_batches AS i ON i.id = b.batch_id
               WHERE m.transaction_id = TRANSACTION
                 AND (m.from_account_id = :account OR m.to_account_id = :account))"""


def _local(column: str) -> str:
    """A time as China Standard Time, ISO 8601 with its offset, formatted by PostgreSQL (in C, not per
    cell in Python: a third of the export's time when it was)."""
    return (f"to_char({column} AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"+08:00\"')")


def _serials_of(transaction: str) -> str:
    return f"CROSS JOIN LATERAL {_SERIALS.replace('TRANSACTION', transaction)} AS s (prefixes, firsts, lasts)"


@dataclass(frozen=True)
class Table:
    name: str
    header: tuple[str, ...]
    sql: str
    single: bool = False  # one object in export.json (the profile), not a list


TABLES = (
    Table("profile", ("user_id", "phone", "display_name", "role", "registered_at", "last_login_at", "account_number",
                      "district", "balance_g", "pending_g", "frozen_at"), f"""
        SELECT u.id, u.phone, u.display_name, u.role, {_local('u.created_at')}, {_local('u.last_login_at')}, a.number,
               h.district,
               a.balance_g, (SELECT coalesce(sum(e.reduction_g), 0)::bigint FROM green_events AS e
                             LEFT JOIN issuance_batches AS b ON b.id = e.issuance_batch_id
                             WHERE e.account_id = a.id AND e.status IN ('quantified', 'capped')
                               AND (b.id IS NULL OR b.status IN {WAITING_BATCH_STATUSES})),
               {_local('a.frozen_at')}
        FROM users AS u JOIN holders AS h ON h.id = u.holder_id JOIN accounts AS a ON a.holder_id = h.id
        WHERE u.id = :user""", single=True),
    Table("consents", ("id", "at", "action", "source_code", "source_name", "scope", "cause"), f"""
        SELECT c.id, {_local('c.at')}, c.action, d.code, d.name, c.scope, c.cause
        FROM consent_events AS c JOIN data_sources AS d ON d.id = c.source_id
        WHERE c.account_id = :account ORDER BY c.id"""),
    Table("events", ("id", "source", "external_id", "kind", "mode", "category", "started_at", "ended_at",
                     "distance_m", "steps", "weight_g", "station", "received_at", "status", "methodology",
                     "methodology_version", "factor", "reduction_g", "capped_g", "reason", "rationale",
                     "quantified_at", "issuance_batch"), f"""
        SELECT e.id, d.code, e.external_id, e.kind, e.mode, e.category, {_local('e.started_at')},
               {_local('e.ended_at')}, e.distance_m, e.steps, e.weight_g, st.code, {_local('e.received_at')},
               e.status, m.code, v.version, e.factor, e.reduction_g,
               e.capped_g, e.reason, e.rationale, {_local('e.quantified_at')}, ib.serial_prefix
        FROM green_events AS e JOIN data_sources AS d ON d.id = e.source_id
        LEFT JOIN stations AS st ON st.id = e.station_id
        LEFT JOIN methodology_versions AS v ON v.id = e.methodology_version_id
        LEFT JOIN methodologies AS m ON m.id = v.methodology_id
        LEFT JOIN issuance_batches AS ib ON ib.id = e.issuance_batch_id
        WHERE e.account_id = :account ORDER BY e.id"""),
    Table("ledger", ("entry_id", "transaction_id", "type", "at", "amount_g", "memo", "serials"), f"""
        SELECT j.id, t.id, t.kind, {_local('t.created_at')}, j.amount_g, t.memo, s.prefixes, s.firsts, s.lasts
        FROM journal_entries AS j JOIN journal_transactions AS t ON t.id = j.transaction_id {_serials_of('t.id')}
        WHERE j.account_id = :account ORDER BY j.id"""),
    Table("coupons", ("id", "campaign_id", "campaign", "merchant", "status", "price_g", "claimed_at", "expires_at",
                      "redeemed_at", "released_at", "claim_transaction_id", "redeem_transaction_id",
                      "release_transaction_id"), f"""
        SELECT c.id, c.campaign_id, p.title, mr.name, c.status, c.price_g, {_local('c.claimed_at')},
               {_local('c.expires_at')}, {_local('c.redeemed_at')}, {_local('c.expired_at')},
               c.claim_transaction_id, c.redeem_transaction_id, c.release_transaction_id
        FROM coupons AS c JOIN campaigns AS p ON p.id = c.campaign_id JOIN merchants AS mr ON mr.id = p.merchant_id
        WHERE c.account_id = :account ORDER BY c.id"""),
    Table("transfers", ("transaction_id", "at", "direction", "amount_g", "counterparty_account", "memo", "serials"),
          f"""
        SELECT t.id, {_local('t.created_at')}, CASE WHEN j.amount_g < 0 THEN 'out' ELSE 'in' END, abs(j.amount_g),
               (SELECT a.number FROM journal_entries AS o JOIN accounts AS a ON a.id = o.account_id
                WHERE o.transaction_id = t.id AND o.account_id <> j.account_id ORDER BY o.id LIMIT 1),
               t.memo, s.prefixes, s.firsts, s.lasts
        FROM journal_entries AS j JOIN journal_transactions AS t ON t.id = j.transaction_id {_serials_of('t.id')}
        WHERE j.account_id = :account AND t.kind = 'transfer' ORDER BY j.id"""),
    Table("retirements", ("number", "at", "amount_g", "beneficiary", "purpose", "transaction_id", "serials"), f"""
        SELECT r.number, {_local('r.created_at')}, r.amount_g, r.beneficiary, r.purpose, r.transaction_id,
               s.prefixes, s.firsts, s.lasts
        FROM retirements AS r {_serials_of('r.transaction_id')}
        WHERE r.account_id = :account ORDER BY r.id"""),
    Table("donations", ("transaction_id", "at", "amount_g", "serials"), f"""
        SELECT t.id, {_local('t.created_at')}, -j.amount_g, s.prefixes, s.firsts, s.lasts
        FROM journal_entries AS j JOIN journal_transactions AS t ON t.id = j.transaction_id {_serials_of('t.id')}
        WHERE j.account_id = :account AND t.kind = 'donate' AND j.amount_g < 0 ORDER BY j.id"""),
)


def _rows(table: Table, result) -> Iterator[list]:
    """The table's rows as lists of plain values (text, integers, None: times come formatted); the
    serial arrays become one list of ranges."""
    if table.header[-1] != "serials":
        yield from result
        return
    for row in result:
        *values, prefixes, firsts, lasts = row
        yield [*values, [serial_range(p, f, la) for p, f, la in zip(prefixes, firsts, lasts)]]


class _Pipe(io.RawIOBase):
    """Where the zip writes: an unseekable stream (so zipfile uses data descriptors and never seeks
    back), drained into the response after every few hundred rows."""

    def __init__(self):
        self._chunks: list[bytes] = []

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        self._chunks.append(bytes(data))
        return len(data)

    def drain(self) -> bytes:
        data, self._chunks = b"".join(self._chunks), []
        return data


def export_zip(engine: Engine, user_id: int, account_id: int) -> Iterator[bytes]:
    """The zip's bytes, as they are written (see the module's docstring).

    Each table is read once: its rows go into its CSV entry and, as JSON, into a spooled file
    (in memory up to JSON_SPOOL_BYTES, on disk beyond), which becomes export.json at the end.
    """
    pipe = _Pipe()
    with engine.connect() as connection, tempfile.SpooledTemporaryFile(JSON_SPOOL_BYTES) as spool:
        connection = connection.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
        streamed = connection.execution_options(stream_results=True, yield_per=FETCH_ROWS)
        json_out = io.TextIOWrapper(spool, encoding="utf-8", newline="")
        everything = _JsonWriter(json_out)
        with connection.begin(), zipfile.ZipFile(pipe, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for table in TABLES:
                rows = _rows(table, streamed.execute(text(table.sql), {"user": user_id, "account": account_id}))
                yield from _table_entry(archive, pipe, table, rows, everything)
            everything.close()
            json_out.flush()
            spool.seek(0)
            with archive.open("export.json", "w") as entry:
                while chunk := spool.read(COPY_BYTES):
                    entry.write(chunk)
                    yield pipe.drain()
            json_out.detach()  # the spool is closed by its own `with`
        yield pipe.drain()  # the central directory, written as the archive closed


def _table_entry(archive: zipfile.ZipFile, pipe: _Pipe, table: Table, rows, everything: "_JsonWriter"):
    """One CSV: a BOM (spreadsheets then read Chinese right), the header, then the rows with every cell
    a spreadsheet would take for a formula neutralised (api.csv_export); each row also to export.json."""
    everything.open(table)
    with archive.open(f"{table.name}.csv", "w") as raw, io.TextIOWrapper(raw, encoding="utf-8", newline="") as out:
        out.write("\ufeff")
        writer = csv.writer(out)
        writer.writerow(table.header)
        for count, row in enumerate(rows, 1):
            writer.writerow([neutralised(" ".join(c) if isinstance(c, list) else c) for c in row])
            everything.row(dict(zip(table.header, row)))
            if count % ROWS_PER_CHUNK == 0:
                out.flush()
                yield pipe.drain()
    everything.close_table(table)
    yield pipe.drain()


class _JsonWriter:
    """export.json a row at a time: {"format": …, "profile": {…}, "consents": […], "events": […], …}."""

    def __init__(self, out):
        self.out, self.first_row = out, True
        out.write(json.dumps({"format": FORMAT}, ensure_ascii=False)[:-1])

    def open(self, table: Table) -> None:
        self.first_row = True
        self.out.write(f', "{table.name}": ' + ("" if table.single else "["))

    def row(self, values: dict) -> None:
        self.out.write(("" if self.first_row else ", ") + json.dumps(values, ensure_ascii=False))
        self.first_row = False

    def close_table(self, table: Table) -> None:
        if table.single:
            if self.first_row:
                self.out.write("null")
        else:
            self.out.write("]")

    def close(self) -> None:
        self.out.write("}\n")
