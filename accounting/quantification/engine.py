"""Quantifying received events (核算) in set-based batches.

A batch is a few statements whatever its size: read up to BATCH_SIZE received events
of one lane in arrival order, read the day tallies and accepted trips they meet, apply
the pure rules in memory, and write every result back in one UPDATE ... FROM unnest.
A transaction-scoped advisory lock per lane means two workers never quantify the same
resident at once, so caps and overlaps see every earlier event; running twice changes
nothing because only `received` events are read.
"""
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime
from typing import NamedTuple

from sqlalchemy import select, text

from accounting.business_day import shanghai_day
from accounting.quantification.methodologies import approved_versions, version_in_force
from accounting.quantification.review import flag_patterns
from accounting.quantification.rules import DayTally, Result, quantify, rejected
from accounting.record.models import ACCEPTED_STATUSES, QUANTIFY_LANES, DataSource
from accounting.record.rules import MAX_TRIP_DURATION
from config.db_types import utcnow
from config.extensions import db, driver_connection

# Measured with bench/accounting.py (1,000,000 events, the worker's two processes): 10,000 per
# batch quantified ~31,000 events/s against ~22,000 at 2,000, each process's memory staying
# flat (+24 MiB); a batch still commits within about a second.
BATCH_SIZE = 10_000
LANE_LOCK_BASE = 7_301_000  # advisory-lock keys 7301000 + lane belong to the quantifier


@dataclass
class Outcome:
    event_id: int
    account_id: int
    day: date
    result: Result
    version_id: int | None


def lock_lane(lane: int) -> bool:
    """Hold this lane until the transaction ends; False if another worker has it."""
    return bool(db.session.execute(text("SELECT pg_try_advisory_xact_lock(:key)"),
                                   {"key": LANE_LOCK_BASE + lane}).scalar())


class ReceivedEvent(NamedTuple):
    """A received event as the batch reads it: it has every field of Action, so the rules take it as it is."""

    id: int
    account_id: int
    source_id: int
    kind: str
    mode: str | None
    category: str | None
    started_at: datetime
    ended_at: datetime
    distance_m: int | None
    steps: int | None
    weight_g: int | None
    received_at: datetime


RECEIVED_SELECT = (
    f"SELECT {', '.join(ReceivedEvent._fields)} FROM green_events "
    f"WHERE status = 'received' AND (account_id %% {QUANTIFY_LANES}) = %b ORDER BY id LIMIT %b"
)


def _received_rows(lane: int, limit: int) -> list:
    """The lane's oldest received events, in arrival order."""
    connection = driver_connection()
    # The driver hands times over in the session's time zone; for the rest of this
    # transaction that is UTC, as UTCDateTime would give them (exact differences).
    # The queue is read in index order and stops at the limit. Right after a burst the
    # planner believes the lane holds a few thousand rows, and for a limit that large
    # it chose a bitmap scan of the whole lane and a sort (measured: 150 ms per batch of
    # 10,000 from a lane of 250,000, against 8 ms in index order), so only this
    # statement runs without those plans.
    connection.execute("SET LOCAL TIME ZONE 'UTC'; SET LOCAL enable_bitmapscan = off; "
                       "SET LOCAL enable_seqscan = off")
    with connection.cursor(binary=True, row_factory=lambda _: ReceivedEvent._make) as cursor:
        rows = cursor.execute(RECEIVED_SELECT, [lane, limit]).fetchall()
    connection.execute("SET LOCAL enable_bitmapscan TO DEFAULT; SET LOCAL enable_seqscan TO DEFAULT")
    return rows


def quantify_next_batch(lane: int, limit: int = BATCH_SIZE) -> int | None:
    """Quantify the oldest received events of one lane; None when another worker holds it."""
    if not lock_lane(lane):
        return None
    rows = _received_rows(lane, limit)
    if not rows:
        return 0
    outcomes, tallies = _quantify_rows(rows)
    _write_results(outcomes, min(row.started_at for row in rows), max(row.started_at for row in rows))
    touched = {key: tallies[key] for key in sorted({(o.account_id, o.day) for o in outcomes})}
    _write_tallies(touched)
    flag_patterns(outcomes, touched)
    return len(rows)


def _quantify_rows(rows) -> tuple[list[Outcome], dict[tuple[int, date], DayTally]]:
    versions = approved_versions()
    source_status = dict(db.session.execute(select(DataSource.id, DataSource.status)).all())
    accounts = {row.account_id for row in rows}
    days = [shanghai_day(row.started_at) for row in rows]
    tallies = _load_tallies(accounts, min(days), max(days))
    trips = _load_accepted_trips(accounts, min(r.started_at for r in rows), max(r.ended_at for r in rows))

    outcomes = []
    for row, day in zip(rows, days):
        account_id, kind = row.account_id, row.kind
        tally = tallies.get((account_id, day))
        if tally is None:
            tally = tallies[(account_id, day)] = DayTally()
        in_force = version_in_force(versions.get(kind, []), row.started_at)
        version_id = in_force[0] if in_force else None
        if source_status.get(row.source_id) != "approved":
            result = rejected("source_not_approved")
        elif in_force is None:
            result = rejected("no_methodology_in_force")
        elif kind == "trip" and (clash := _clash(trips[account_id], row)):
            result = rejected(clash)
        else:
            result = quantify(row, in_force[1], tally)  # the row has every field of Action
        if result.status == "rejected":
            if result.reason in ("too_fast", "trip_too_long"):
                tally.implausible_count += 1
        elif kind == "trip":
            trips[account_id].append((row.started_at, row.ended_at, row.mode))
        outcomes.append(Outcome(row.id, account_id, day, result, version_id))
    return outcomes, tallies


def _clash(accepted: list[tuple], row) -> str | None:
    """The same trip claimed again (same mode, overlapping), or an overlapping other trip."""
    if accepted:
        row_started_at, row_ended_at = row.started_at, row.ended_at
        for started_at, ended_at, mode in accepted:
            if started_at < row_ended_at and row_started_at < ended_at:
                return "duplicate_claim" if mode == row.mode else "overlapping_trip"
    return None


# The accounts go as one binary array, not one bound parameter each: the same plan
# (IN (...) is = ANY for the planner) without compiling 2,000 placeholders.
TALLY_SELECT = (
    "SELECT account_id, day, trip_g, walk_g, recycling_weight_g, capped_g, implausible_count "
    "FROM daily_tallies WHERE account_id = ANY(%b::bigint[]) AND day BETWEEN %b AND %b"
)
ACCEPTED_TRIPS_SELECT = (
    "SELECT account_id, started_at, ended_at, mode FROM green_events "
    "WHERE account_id = ANY(%b::bigint[]) AND kind = 'trip' "
    f"AND status IN ({', '.join(repr(status) for status in ACCEPTED_STATUSES)}) "
    "AND started_at < %b AND ended_at > %b AND started_at > %b"
)


def _load_tallies(accounts: set[int], first: date, last: date) -> dict[tuple[int, date], DayTally]:
    with driver_connection().cursor(binary=True) as cursor:
        rows = cursor.execute(TALLY_SELECT, [list(accounts), first, last]).fetchall()
    return {(row[0], row[1]): DayTally(*row[2:]) for row in rows}


def _load_accepted_trips(accounts: set[int], earliest, latest) -> dict[int, list[tuple]]:
    trips = defaultdict(list)
    with driver_connection().cursor(binary=True) as cursor:
        # No recorded trip lasts over a day (refused when it arrives), so none that began a day before
        # the batch's earliest can reach it: a lower bound that keeps the read to the batch's days (and
        # their month's partition) instead of every trip the residents ever made.
        rows = cursor.execute(ACCEPTED_TRIPS_SELECT,
                              [list(accounts), latest, earliest, earliest - MAX_TRIP_DURATION]).fetchall()
    for account_id, started_at, ended_at, mode in rows:
        trips[account_id].append((started_at, ended_at, mode))
    return trips


RESULT_COLUMNS = ("id", "status", "reduction_g", "capped_g", "reason", "methodology_version_id",
                  "factor", "rationale")
RESULT_TYPES = ("bigint", "text", "bigint", "bigint", "text", "int", "text", "text")
# `e.id = ANY(ids)` as well as the join: the planner then reaches the batch's rows by
# primary key whatever it believes about `received`, instead of hashing every received
# row of the table for each batch (measured: a seq scan of the whole queue per batch).
UNNEST_UPDATE = (
    "UPDATE green_events AS e SET status = r.status, reduction_g = r.reduction_g, capped_g = r.capped_g, "
    "reason = r.reason, methodology_version_id = r.methodology_version_id, factor = r.factor, "
    "rationale = r.rationale, quantified_at = %(now)b "
    f"FROM unnest({', '.join(f'%({name})b::{t}[]' for name, t in zip(RESULT_COLUMNS, RESULT_TYPES))}) "
    f"AS r({', '.join(RESULT_COLUMNS)}) "
    "WHERE e.id = r.id AND e.status = 'received' AND e.id = ANY(%(id)b::bigint[]) "
    # The batch's first and last start: the months (partitions) that hold it, and no other.
    "AND e.started_at BETWEEN %(first)b AND %(last)b"
)


def _result_rows(outcomes: list[Outcome]) -> list[tuple]:
    return [
        (o.event_id, o.result.status, o.result.reduction_g, o.result.capped_g, o.result.reason,
         o.version_id, o.result.factor, o.result.rationale[:300])
        for o in outcomes
    ]


def _write_results(outcomes: list[Outcome], first: datetime, last: datetime) -> None:
    rows = _result_rows(outcomes)
    with driver_connection().cursor(binary=True) as cursor:
        cursor.execute(UNNEST_UPDATE, dict(zip(RESULT_COLUMNS, map(list, zip(*rows))), now=utcnow(),
                                           first=first, last=last))


TALLY_COLUMNS = ("account_id", "day", "trip_g", "walk_g", "recycling_weight_g", "capped_g", "implausible_count")


TALLY_TYPES = ("bigint", "date", "bigint", "bigint", "bigint", "bigint", "int")
TALLY_UPSERT = (
    f"INSERT INTO daily_tallies ({', '.join(TALLY_COLUMNS)}) "
    f"SELECT * FROM unnest({', '.join(f'%b::{t}[]' for t in TALLY_TYPES)}) "
    "ON CONFLICT (account_id, day) DO UPDATE SET "
    + ", ".join(f"{name} = excluded.{name}" for name in TALLY_COLUMNS[2:])
)


def _write_tallies(tallies: dict[tuple[int, date], DayTally]) -> None:
    """Store each touched (account, day) tally as the rules left it: one upsert, a binary array per column."""
    rows = [(account_id, day, t.trip_g, t.walk_g, t.recycling_weight_g, t.capped_g, t.implausible_count)
            for (account_id, day), t in tallies.items()]
    with driver_connection().cursor(binary=True) as cursor:
        cursor.execute(TALLY_UPSERT, [list(column) for column in zip(*rows)])
