"""Helpers for the registry tests: accounts, issued credits and an empty registry, fast.

Credits are issued the real way (propose → auto-approve → issue through
`run_issuance_day`), but from verified reductions written straight into `green_events`
rather than through the HTTP trip API, so a test can pick exact grams per account.
"""
import itertools
import shutil
from datetime import date, datetime, time, timedelta

import sqlalchemy as sa
from sqlalchemy import insert, select

from accounting.business_day import SHANGHAI
from accounting.issuance.tasks import run_issuance_day
from accounting.ledger.accounts import open_resident_account
from accounting.ledger.models import Account
from accounting.quantification.models import Methodology, MethodologyVersion
from accounting.record.models import DataSource, GreenEvent
from config.extensions import db

_external_ids = itertools.count(1)
BASE_DAY = date(2026, 3, 1)


def failed(report: list[dict]) -> list[dict]:
    return [check for check in report if not check["ok"]]


def chain_check(report: list[dict]) -> dict:
    """Invariant 8's entry of a verification report (the audit chain)."""
    [chain] = [check for check in report if check["invariant"].startswith("8 ")]
    return chain


def invariant_status(report: list[dict]) -> dict[str, bool]:
    """{"1": True, "2": True, ...} keyed by the invariant's number."""
    return {check["invariant"].split()[0]: check["ok"] for check in report}


def open_accounts(count: int) -> list[Account]:
    """`count` resident accounts (committed), as (id, number) pairs in id order."""
    accounts = [open_resident_account("滨城区") for _ in range(count)]
    db.session.commit()
    return [(a.id, a.number) for a in accounts]


def version_id(code: str = "TRIP") -> int:
    return db.session.scalar(select(MethodologyVersion.id).join(Methodology)
                             .where(Methodology.code == code, MethodologyVersion.version == 1))


def add_reductions(day: date, grams: dict[int, int], *, code: str = "TRIP") -> None:
    """Quantified reductions on `day` (Asia/Shanghai noon), one event per account (flushed)."""
    source_id = db.session.scalar(select(DataSource.id).where(DataSource.code == "APP"))
    started = datetime.combine(day, time(12), SHANGHAI)
    rows = []
    for account_id, amount in grams.items():
        row = {"source_id": source_id, "external_id": f"reg-test-{next(_external_ids)}", "account_id": account_id,
               "started_at": started, "ended_at": started + timedelta(minutes=20), "status": "quantified",
               "reduction_g": amount, "capped_g": 0, "methodology_version_id": version_id(code),
               "factor": "test", "quantified_at": started}
        if code == "TRIP":
            row |= {"kind": "trip", "mode": "bus", "distance_m": 5000}
        else:
            row |= {"kind": "recycling", "category": "cardboard", "weight_g": 2500}
        rows.append(row)
    db.session.execute(insert(GreenEvent.__table__), rows)


def issue(day: date, grams: dict[int, int], *, code: str = "TRIP") -> dict:
    """Write the reductions and run the day's issuance; returns run_issuance_day's result."""
    add_reductions(day, grams, code=code)
    db.session.commit()
    return run_issuance_day(day)


def balances(*account_ids: int) -> dict[int, int]:
    query = select(Account.id, Account.balance_g)
    if account_ids:
        query = query.where(Account.id.in_(account_ids))
    return dict(db.session.execute(query).all())


REGISTRY_TABLES = ("event_keys", "audit_records", "block_movements", "credit_blocks", "retirements", "journal_entries", "batch_lines",
                   "green_events", "issuance_batches", "journal_transactions")


def reset_registry(app) -> None:
    """Empty the registry and the record but keep the accounts, back at 0 g and unfrozen.

    Cheaper than conftest._clean_state (a handful of tables), for a test that starts over many
    times, such as a Hypothesis state machine between examples. The journal, blocks and audit
    log refuse row deletes (their PostgreSQL guards), so this truncates them, as the tables'
    owner (the app's own role may not).
    """
    from tests.conftest import as_owner

    shutil.rmtree(app.config["AUDIT_CHECKPOINT_DIR"], ignore_errors=True)  # the chain starts again
    db.session.remove()
    with as_owner(app) as connection:
        connection.execute(sa.text(f"TRUNCATE {', '.join(REGISTRY_TABLES)} CASCADE"))
        connection.execute(sa.text("UPDATE accounts SET balance_g = 0, money_fen = 0, reserved_fen = 0, frozen_at = NULL"
                                   " WHERE balance_g <> 0 OR money_fen <> 0 OR reserved_fen <> 0"
                                   " OR frozen_at IS NOT NULL"))
