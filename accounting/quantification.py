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
from datetime import date
from zoneinfo import ZoneInfo

from sqlalchemy import bindparam, select, text, update
from sqlalchemy.dialects import postgresql, sqlite

from accounting.methodologies import approved_versions, version_in_force
from accounting.models import DailyTally, DataSource, GreenEvent
from accounting.models.events import ACCEPTED_STATUSES, QUANTIFY_LANES
from accounting.quantification_rules import Action, DayTally, Result, quantify, rejected
from accounting.review import flag_patterns
from config.db_types import utcnow
from config.extensions import db

SHANGHAI = ZoneInfo("Asia/Shanghai")
BATCH_SIZE = 2000
EVENTS = GreenEvent.__table__
LANE_LOCK_BASE = 7_301_000  # advisory-lock keys 7301000 + lane belong to the quantifier

# Literal, not bound, so the planner matches the partial expression index of the queue.
RECEIVED_IN_LANE = text(f"green_events.status = 'received' AND (green_events.account_id % {QUANTIFY_LANES}) = :lane")
EVENT_COLUMNS = (EVENTS.c.id, EVENTS.c.account_id, EVENTS.c.source_id, EVENTS.c.kind, EVENTS.c.mode,
                 EVENTS.c.category, EVENTS.c.started_at, EVENTS.c.ended_at, EVENTS.c.distance_m,
                 EVENTS.c.steps, EVENTS.c.weight_g, EVENTS.c.received_at)


def shanghai_day(moment) -> date:
    """An issuance and cap day is a calendar day in Asia/Shanghai."""
    return moment.astimezone(SHANGHAI).date()


@dataclass
class Outcome:
    event_id: int
    account_id: int
    day: date
    result: Result
    version_id: int | None


def _is_postgres() -> bool:
    return db.session.get_bind().dialect.name == "postgresql"


def lock_lane(lane: int) -> bool:
    """Hold this lane until the transaction ends; False if another worker has it."""
    if not _is_postgres():
        return True  # embedded mode: one process, tasks in-process
    return bool(db.session.execute(text("SELECT pg_try_advisory_xact_lock(:key)"),
                                   {"key": LANE_LOCK_BASE + lane}).scalar())


def quantify_next_batch(lane: int, limit: int = BATCH_SIZE) -> int | None:
    """Quantify the oldest received events of one lane; None when another worker holds it."""
    if not lock_lane(lane):
        return None
    rows = db.session.execute(
        select(*EVENT_COLUMNS).where(RECEIVED_IN_LANE).order_by(EVENTS.c.id).limit(limit), {"lane": lane}
    ).all()
    if not rows:
        return 0
    outcomes, tallies = _quantify_rows(rows)
    _write_results(outcomes)
    touched = {key: tallies[key] for key in sorted({(o.account_id, o.day) for o in outcomes})}
    _write_tallies(touched)
    flag_patterns(outcomes, touched)
    return len(rows)


def _quantify_rows(rows) -> tuple[list[Outcome], dict[tuple[int, date], DayTally]]:
    versions = approved_versions()
    source_status = dict(db.session.execute(select(DataSource.id, DataSource.status)).all())
    accounts = {row.account_id for row in rows}
    days = {shanghai_day(row.started_at) for row in rows}
    tallies = _load_tallies(accounts, min(days), max(days))
    trips = _load_accepted_trips(accounts, min(r.started_at for r in rows), max(r.ended_at for r in rows))

    outcomes = []
    for row in rows:
        day = shanghai_day(row.started_at)
        tally = tallies.setdefault((row.account_id, day), DayTally())
        in_force = version_in_force(versions.get(row.kind, []), row.started_at)
        version_id = in_force[0] if in_force else None
        if source_status.get(row.source_id) != "approved":
            result = rejected("source_not_approved")
        elif in_force is None:
            result = rejected("no_methodology_in_force")
        elif row.kind == "trip" and (clash := _clash(trips[row.account_id], row)):
            result = rejected(clash)
        else:
            result = quantify(_action(row), in_force[1], tally)
        if result.status == "rejected" and result.reason in ("too_fast", "trip_too_long"):
            tally.implausible_count += 1
        if row.kind == "trip" and result.status != "rejected":
            trips[row.account_id].append((row.started_at, row.ended_at, row.mode))
        outcomes.append(Outcome(row.id, row.account_id, day, result, version_id))
    return outcomes, tallies


def _action(row) -> Action:
    return Action(kind=row.kind, started_at=row.started_at, ended_at=row.ended_at, received_at=row.received_at,
                  mode=row.mode, distance_m=row.distance_m, steps=row.steps, category=row.category,
                  weight_g=row.weight_g)


def _clash(accepted: list[tuple], row) -> str | None:
    """The same trip claimed again (same mode, overlapping), or an overlapping other trip."""
    for started_at, ended_at, mode in accepted:
        if started_at < row.ended_at and row.started_at < ended_at:
            return "duplicate_claim" if mode == row.mode else "overlapping_trip"
    return None


def _load_tallies(accounts: set[int], first: date, last: date) -> dict[tuple[int, date], DayTally]:
    table = DailyTally.__table__
    rows = db.session.execute(
        select(*(table.c[name] for name in TALLY_COLUMNS))
        .where(table.c.account_id.in_(accounts), table.c.day.between(first, last))
    )
    return {(row[0], row[1]): DayTally(*row[2:]) for row in rows}


def _load_accepted_trips(accounts: set[int], earliest, latest) -> dict[int, list[tuple]]:
    trips = defaultdict(list)
    rows = db.session.execute(
        select(EVENTS.c.account_id, EVENTS.c.started_at, EVENTS.c.ended_at, EVENTS.c.mode).where(
            EVENTS.c.account_id.in_(accounts), EVENTS.c.kind == "trip",
            EVENTS.c.status.in_(ACCEPTED_STATUSES),
            EVENTS.c.started_at < latest, EVENTS.c.ended_at > earliest,
        )
    )
    for account_id, started_at, ended_at, mode in rows:
        trips[account_id].append((started_at, ended_at, mode))
    return trips


RESULT_COLUMNS = ("id", "status", "reduction_g", "capped_g", "reason", "methodology_version_id",
                  "factor", "rationale")
RESULT_TYPES = ("bigint", "text", "bigint", "bigint", "text", "int", "text", "text")
UNNEST_UPDATE = (
    "UPDATE green_events AS e SET status = r.status, reduction_g = r.reduction_g, capped_g = r.capped_g, "
    "reason = r.reason, methodology_version_id = r.methodology_version_id, factor = r.factor, "
    "rationale = r.rationale, quantified_at = %b "
    f"FROM unnest({', '.join(f'%b::{t}[]' for t in RESULT_TYPES)}) AS r({', '.join(RESULT_COLUMNS)}) "
    "WHERE e.id = r.id AND e.status = 'received'"
)


def _result_rows(outcomes: list[Outcome]) -> list[tuple]:
    return [
        (o.event_id, o.result.status, o.result.reduction_g, o.result.capped_g, o.result.reason,
         o.version_id, o.result.factor, o.result.rationale[:300])
        for o in outcomes
    ]


def _write_results(outcomes: list[Outcome]) -> None:
    rows, now = _result_rows(outcomes), utcnow()
    if _is_postgres():
        connection = db.session.connection().connection.driver_connection
        with connection.cursor(binary=True) as cursor:
            cursor.execute(UNNEST_UPDATE, [now, *([row[i] for row in rows] for i in range(len(RESULT_COLUMNS)))])
        return
    statement = update(EVENTS).where(EVENTS.c.id == bindparam("b_id"), EVENTS.c.status == "received").values(
        {name: bindparam(f"b_{name}") for name in RESULT_COLUMNS[1:]} | {"quantified_at": now})
    db.session.execute(statement, [{f"b_{name}": value for name, value in zip(RESULT_COLUMNS, row)} for row in rows])


TALLY_COLUMNS = ("account_id", "day", "trip_g", "walk_g", "recycling_weight_g", "capped_g", "implausible_count")


def _write_tallies(tallies: dict[tuple[int, date], DayTally]) -> None:
    """Store each touched (account, day) tally as the rules left it: one upsert."""
    table = DailyTally.__table__
    rows = [dict(zip(TALLY_COLUMNS, (account_id, day, t.trip_g, t.walk_g, t.recycling_weight_g, t.capped_g,
                                     t.implausible_count)))
            for (account_id, day), t in tallies.items()]
    insert = postgresql.insert if _is_postgres() else sqlite.insert
    statement = insert(table)
    statement = statement.on_conflict_do_update(
        index_elements=["account_id", "day"],
        set_={name: statement.excluded[name] for name in TALLY_COLUMNS[2:]},
    )
    db.session.execute(statement, rows)
