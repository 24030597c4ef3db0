"""Everything held about a resident, as one zip (PIPL arts. 45: access and portability).

`export.json` holds it all; beside it one CSV per table (profile, consents, events, ledger,
coupons, transfers, retirements, donations), the resident's own rows only, grams as whole
numbers, times in Asia/Shanghai with their offset. The zip is written while it is sent: each
table is read through a server-side cursor, a few hundred rows at a time, compressed and handed
to the client, so 10,000 events take as little memory as 10. All of it is read in one
read-only REPEATABLE READ transaction of its own: the CSVs and the JSON are one snapshot, and
the ledger's amounts sum to the balance in the profile.
"""
import csv
import io
import json
import zipfile
from dataclasses import dataclass
from datetime import datetime
from typing import Callable, Iterator

from sqlalchemy import text
from sqlalchemy.engine import Engine

from accounting.ledger.serials import serial_range
from api.csv_export import neutralised
from api.schemas_common import CHINA_STANDARD_TIME

FORMAT = "binzhou-carbon-export/1"
ROWS_PER_CHUNK = 500
FETCH_ROWS = 2000

# The serial ranges a transaction moved from or to the account (as three parallel arrays, made
# into `BZ-…-000000001-000000468` strings by accounting.ledger.serials, the one place that formats them).
_SERIALS = """(SELECT coalesce(array_agg(i.serial_prefix ORDER BY b.batch_id, b.first_serial), '{}'),
                      coalesce(array_agg(b.first_serial ORDER BY b.batch_id, b.first_serial), '{}'),
                      coalesce(array_agg(b.last_serial ORDER BY b.batch_id, b.first_serial), '{}')
               FROM block_movements AS m JOIN credit_blocks AS b ON b.id = m.block_id
               JOIN issuance_batches AS i ON i.id = b.batch_id
               WHERE m.transaction_id = TRANSACTION
                 AND (m.from_account_id = :account OR m.to_account_id = :account))"""


def _serials_of(transaction: str) -> str:
    return f"CROSS JOIN LATERAL {_SERIALS.replace('TRANSACTION', transaction)} AS s (prefixes, firsts, lasts)"


@dataclass(frozen=True)
class Table:
    name: str
    header: tuple[str, ...]
    sql: str


TABLES = (
    Table("profile", ("user_id", "phone", "display_name", "role", "registered_at", "last_login_at", "account_number",
                      "district", "balance_g", "pending_g", "frozen_at"), """
        SELECT u.id, u.phone, u.display_name, u.role, u.created_at, u.last_login_at, a.number, h.district,
               a.balance_g, (SELECT coalesce(sum(e.reduction_g), 0)::bigint FROM green_events AS e
                             WHERE e.account_id = a.id AND e.status IN ('quantified', 'capped')), a.frozen_at
        FROM users AS u JOIN holders AS h ON h.id = u.holder_id JOIN accounts AS a ON a.holder_id = h.id
        WHERE u.id = :user"""),
    Table("consents", ("id", "at", "action", "source_code", "source_name", "scope", "cause"), """
        SELECT c.id, c.at, c.action, d.code, d.name, c.scope, c.cause
        FROM consent_events AS c JOIN data_sources AS d ON d.id = c.source_id
        WHERE c.account_id = :account ORDER BY c.id"""),
    Table("events", ("id", "source", "external_id", "kind", "mode", "category", "started_at", "ended_at",
                     "distance_m", "steps", "weight_g", "station", "received_at", "status", "methodology",
                     "methodology_version", "factor", "reduction_g", "capped_g", "reason", "rationale",
                     "quantified_at", "issuance_batch"), """
        SELECT e.id, d.code, e.external_id, e.kind, e.mode, e.category, e.started_at, e.ended_at, e.distance_m,
               e.steps, e.weight_g, st.code, e.received_at, e.status, m.code, v.version, e.factor, e.reduction_g,
               e.capped_g, e.reason, e.rationale, e.quantified_at, ib.serial_prefix
        FROM green_events AS e JOIN data_sources AS d ON d.id = e.source_id
        LEFT JOIN stations AS st ON st.id = e.station_id
        LEFT JOIN methodology_versions AS v ON v.id = e.methodology_version_id
        LEFT JOIN methodologies AS m ON m.id = v.methodology_id
        LEFT JOIN issuance_batches AS ib ON ib.id = e.issuance_batch_id
        WHERE e.account_id = :account ORDER BY e.id"""),
    Table("ledger", ("entry_id", "transaction_id", "type", "at", "amount_g", "memo", "serials"), f"""
        SELECT j.id, t.id, t.kind, t.created_at, j.amount_g, t.memo, s.prefixes, s.firsts, s.lasts
        FROM journal_entries AS j JOIN journal_transactions AS t ON t.id = j.transaction_id {_serials_of('t.id')}
        WHERE j.account_id = :account ORDER BY j.id"""),
    Table("coupons", ("id", "campaign_id", "campaign", "merchant", "status", "price_g", "claimed_at", "expires_at",
                      "redeemed_at", "released_at", "claim_transaction_id", "redeem_transaction_id",
                      "release_transaction_id"), """
        SELECT c.id, c.campaign_id, p.title, mr.name, c.status, c.price_g, c.claimed_at, c.expires_at, c.redeemed_at,
               c.expired_at, c.claim_transaction_id, c.redeem_transaction_id, c.release_transaction_id
        FROM coupons AS c JOIN campaigns AS p ON p.id = c.campaign_id JOIN merchants AS mr ON mr.id = p.merchant_id
        WHERE c.account_id = :account ORDER BY c.id"""),
    Table("transfers", ("transaction_id", "at", "direction", "amount_g", "counterparty_account", "memo", "serials"),
          f"""
        SELECT t.id, t.created_at, CASE WHEN j.amount_g < 0 THEN 'out' ELSE 'in' END, abs(j.amount_g),
               (SELECT a.number FROM journal_entries AS o JOIN accounts AS a ON a.id = o.account_id
                WHERE o.transaction_id = t.id AND o.account_id <> j.account_id ORDER BY o.id LIMIT 1),
               t.memo, s.prefixes, s.firsts, s.lasts
        FROM journal_entries AS j JOIN journal_transactions AS t ON t.id = j.transaction_id {_serials_of('t.id')}
        WHERE j.account_id = :account AND t.kind = 'transfer' ORDER BY j.id"""),
    Table("retirements", ("number", "at", "amount_g", "beneficiary", "purpose", "transaction_id", "serials"), f"""
        SELECT r.number, r.created_at, r.amount_g, r.beneficiary, r.purpose, r.transaction_id,
               s.prefixes, s.firsts, s.lasts
        FROM retirements AS r {_serials_of('r.transaction_id')}
        WHERE r.account_id = :account ORDER BY r.id"""),
    Table("donations", ("transaction_id", "at", "amount_g", "serials"), f"""
        SELECT t.id, t.created_at, -j.amount_g, s.prefixes, s.firsts, s.lasts
        FROM journal_entries AS j JOIN journal_transactions AS t ON t.id = j.transaction_id {_serials_of('t.id')}
        WHERE j.account_id = :account AND t.kind = 'donate' AND j.amount_g < 0 ORDER BY j.id"""),
)


def _value(value):
    """A cell as export.json holds it: times in China Standard Time; grams stay integers."""
    if isinstance(value, datetime):
        return value.astimezone(CHINA_STANDARD_TIME).isoformat()
    return value


def _rows(table: Table, result) -> Iterator[list]:
    """The table's rows as lists of plain values; the serial arrays become one list of ranges."""
    with_serials = table.header[-1] == "serials"
    for row in result:
        values = [_value(v) for v in row]
        if with_serials:
            prefixes, firsts, lasts = values[-3:]
            values = values[:-3] + [[serial_range(p, f, la) for p, f, la in zip(prefixes, firsts, lasts)]]
        yield values


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
    """The zip's bytes, as they are written (see the module's docstring)."""
    pipe = _Pipe()
    with engine.connect() as connection:
        connection = connection.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
        with connection.begin(), zipfile.ZipFile(pipe, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            def read(table: Table):
                streamed = connection.execution_options(stream_results=True, yield_per=FETCH_ROWS)
                return _rows(table, streamed.execute(text(table.sql), {"user": user_id, "account": account_id}))

            for table in TABLES:
                yield from _entry(archive, pipe, f"{table.name}.csv", _csv_writer(table), read(table))
            yield from _entry(archive, pipe, "export.json", _json_writer(), _all_tables(read))
        yield pipe.drain()  # the central directory, written as the archive closed


def _entry(archive: zipfile.ZipFile, pipe: _Pipe, name: str, writer: Callable, items) -> Iterator[bytes]:
    with archive.open(name, "w") as raw, io.TextIOWrapper(raw, encoding="utf-8", newline="") as out:
        write = writer(out)
        for count, item in enumerate(items, 1):
            write(item)
            if count % ROWS_PER_CHUNK == 0:
                out.flush()
                yield pipe.drain()
        writer_close = getattr(write, "close", None)
        if writer_close:
            writer_close()
    yield pipe.drain()


def _csv_writer(table: Table) -> Callable:
    """One CSV: a BOM (spreadsheets then read Chinese right), the header, then rows with every cell a
    spreadsheet would take for a formula neutralised (api.csv_export)."""
    def start(out):
        out.write("\ufeff")
        writer = csv.writer(out)
        writer.writerow(table.header)
        return lambda row: writer.writerow([neutralised(" ".join(c) if isinstance(c, list) else c) for c in row])
    return start


def _all_tables(read) -> Iterator[tuple]:
    """export.json's pieces: each table's rows as objects, between the table's opening and closing."""
    for table in TABLES:
        yield ("open", table)
        for row in read(table):
            yield ("row", dict(zip(table.header, row)))
        yield ("close", table)


class _JsonWriter:
    """export.json written a row at a time: {"format", "profile": {...}, "consents": [...], ...}."""

    def __init__(self, out):
        self.out, self.first_table, self.first_row, self.single = out, True, True, False
        out.write(json.dumps({"format": FORMAT}, ensure_ascii=False)[:-1])

    def __call__(self, item):
        kind, value = item
        if kind == "open":
            self.single, self.first_row = value.name == "profile", True
            self.out.write(f', "{value.name}": ' + ("" if self.single else "["))
        elif kind == "row":
            self.out.write(("" if self.first_row else ", ") + json.dumps(value, ensure_ascii=False))
            self.first_row = False
        elif self.single:
            if self.first_row:  # a profile that was not found: null, not nothing
                self.out.write("null")
        else:
            self.out.write("]")

    def close(self):
        self.out.write("}\n")


def _json_writer() -> Callable:
    return _JsonWriter
