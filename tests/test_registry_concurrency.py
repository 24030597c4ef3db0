"""The registry under real concurrency: PostgreSQL, real threads, each with its own session.

Every worker thread opens its own `app.app_context()` (so its own SQLAlchemy session and
connection), waits at a barrier so they all start together, and commits or rolls back
itself. Afterwards the main thread checks balances against what the threads report and
runs verify_registry().
"""
import random
import threading
from collections import Counter

import psycopg
import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import DBAPIError

from accounting.errors import DomainError
from accounting.issuance import revocations
from accounting.issuance.models import IssuanceBatch
from accounting.issuance.tasks import run_issuance_day
from accounting.ledger import movement
from accounting.ledger.idempotency import Idempotency
from accounting.ledger.models import CreditBlock, JournalTransaction
from accounting.ledger.movement import InsufficientBalance
from accounting.ledger.tasks import seal_audit_log
from accounting.ledger.transfers import transfer
from accounting.ledger.verify import verify_registry
from accounting.record.models import GreenEvent
from config.extensions import db
from tests.registry_support import BASE_DAY, add_reductions, balances, failed, issue, open_accounts

JOIN_TIMEOUT = 60


def run_threads(app, count: int, work, *, timeout: float = JOIN_TIMEOUT) -> list:
    """Run work(index) in `count` threads started together; returns ("ok", value) / ("error", exc) per thread."""
    barrier = threading.Barrier(count)
    results: list = [None] * count

    def runner(index):
        with app.app_context():
            try:
                barrier.wait(timeout=timeout)
                results[index] = ("ok", work(index))
            except BaseException as error:  # noqa: BLE001 - reported to the main thread
                db.session.rollback()
                results[index] = ("error", error)

    threads = [threading.Thread(target=runner, args=(i,), daemon=True) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout)
    stuck = [i for i, thread in enumerate(threads) if thread.is_alive()]
    assert not stuck, f"threads {stuck} still running after {timeout} s (deadlock or starved pool?)"
    return results


def assert_no_database_errors(results) -> None:
    """No thread met a deadlock, serialization failure or any other database error."""
    bad = [error for status, error in results if status == "error" and (
        isinstance(error, (DBAPIError, psycopg.Error)) or not isinstance(error, DomainError))]
    assert not bad, [repr(error) for error in bad[:5]]
    assert not any(isinstance(getattr(error, "orig", None), psycopg.errors.DeadlockDetected)
                   for status, error in results if status == "error")


def assert_registry_verifies() -> None:
    seal_audit_log()
    report = verify_registry()
    assert not failed(report), failed(report)


@pytest.fixture
def funded_pair(app):
    """Accounts A and B with 1,000 g and 500 g, A's spread over two batches (several blocks)."""
    with app.app_context():
        (a_id, a_number), (b_id, b_number) = open_accounts(2)
        issue(BASE_DAY, {a_id: 600, b_id: 500})
        issue(BASE_DAY.replace(day=2), {a_id: 400})
        assert balances(a_id, b_id) == {a_id: 1000, b_id: 500}
    return (a_id, a_number), (b_id, b_number)


def test_fifty_spenders_on_one_account_never_overdraw_it(app, funded_pair):
    (a_id, _), (b_id, b_number) = funded_pair

    def spend(index):
        movement = transfer(a_id, b_number, 30, Idempotency(f"user:{a_id}", f"spend-{index}", f"h{index}"),
                                     actor_id=None, memo="concurrent spend")
        db.session.commit()
        return movement

    results = run_threads(app, 50, spend)
    assert_no_database_errors(results)
    successes = [value for status, value in results if status == "ok"]
    refusals = [error for status, error in results if status == "error"]
    assert len(successes) == 1000 // 30 == 33
    assert all(isinstance(error, InsufficientBalance) and error.code == "insufficient_balance" for error in refusals)
    assert len(refusals) == 50 - 33
    assert len({m.transaction_id for m in successes}) == 33
    assert all(not m.replayed and sum(r.last - r.first + 1 for r in m.ranges) == 30 for m in successes)

    with app.app_context():
        assert balances(a_id, b_id) == {a_id: 1000 - 30 * 33, b_id: 500 + 30 * 33}
        # The units moved are 33 disjoint 30-unit slices of A's serials, none handed out twice.
        serials = Counter((r.serial_prefix, s) for m in successes for r in m.ranges for s in range(r.first, r.last + 1))
        assert len(serials) == 990 and max(serials.values()) == 1
        transfers = db.session.scalar(select(func.count()).select_from(JournalTransaction)
                                      .where(JournalTransaction.kind == "transfer"))
        assert transfers == 33  # the refused ones left no transaction behind
        assert_registry_verifies()


def test_opposite_transfers_never_deadlock_and_conserve_units(app):
    with app.app_context():
        (a_id, a_number), (b_id, b_number) = open_accounts(2)
        issue(BASE_DAY, {a_id: 300, b_id: 300})
    directions = {a_id: (b_id, b_number), b_id: (a_id, a_number)}
    rng = random.Random(20261123)
    plans = [[rng.randint(1, 9) for _ in range(4)] for _ in range(40)]  # 20 threads each way

    def shuttle(index):
        sender = a_id if index % 2 == 0 else b_id
        receiver_id, receiver_number = directions[sender]
        moved = []
        for step, amount in enumerate(plans[index]):
            try:
                transfer(sender, receiver_number, amount,
                                  Idempotency(f"user:{sender}", f"shuttle-{index}-{step}", f"{amount}"), actor_id=None)
                db.session.commit()
                moved.append(amount)
            except InsufficientBalance:
                db.session.rollback()
        return sender, sum(moved), len(moved)

    results = run_threads(app, 40, shuttle)
    assert_no_database_errors(results)
    assert all(status == "ok" for status, _ in results), [r for r in results if r[0] != "ok"][:3]
    sent = Counter()
    committed = 0
    for _, (sender, total, count) in results:
        sent[sender] += total
        committed += count
    with app.app_context():
        final = balances(a_id, b_id)
        assert final[a_id] + final[b_id] == 600
        assert final == {a_id: 300 - sent[a_id] + sent[b_id], b_id: 300 - sent[b_id] + sent[a_id]}
        assert db.session.scalar(select(func.count()).select_from(JournalTransaction)
                                 .where(JournalTransaction.kind == "transfer")) == committed
        assert committed > 80  # the accounts really did trade in both directions
        assert_registry_verifies()


def test_two_issuance_runs_for_one_day_issue_once(app):
    with app.app_context():
        accounts = open_accounts(3)
        grams = {account_id: 100 + 37 * i for i, (account_id, _) in enumerate(accounts)}
        add_reductions(BASE_DAY, grams)
        add_reductions(BASE_DAY, {accounts[0][0]: 55}, code="RECYCLE")
        db.session.commit()

    def run(_index):
        result = run_issuance_day(BASE_DAY)
        db.session.commit()
        return result

    results = run_threads(app, 2, run)
    assert all(status == "ok" for status, _ in results), results
    proposed = [value["proposed"] for _, value in results]
    assert sorted(map(len, proposed)) == [0, 2]  # one run proposed both versions' batches, the other nothing
    with app.app_context():
        batches = db.session.execute(select(IssuanceBatch.id, IssuanceBatch.status, IssuanceBatch.quantity_g)).all()
        assert len(batches) == 2 and {b.status for b in batches} == {"issued"}
        assert sorted(b.quantity_g for b in batches) == [55, sum(grams.values())]
        assert db.session.scalar(select(func.count()).select_from(JournalTransaction)
                                 .where(JournalTransaction.kind == "issue")) == 2
        expected = dict(grams)
        expected[accounts[0][0]] += 55
        assert balances(*expected) == expected
        assert set(db.session.scalars(select(GreenEvent.status))) == {"issued"}
        assert db.session.scalar(select(func.sum(CreditBlock.last_serial - CreditBlock.first_serial + 1))) == \
            sum(expected.values())
        again = run_issuance_day(BASE_DAY)
        assert again["proposed"] == [] and again["issued"] == []
        assert_registry_verifies()


def test_one_idempotency_key_from_eight_threads_moves_once(app, funded_pair):
    (a_id, _), (b_id, b_number) = funded_pair
    key = Idempotency(f"user:{a_id}", "pay-once-7f3a", "sha256-of-the-request")

    def pay(_index):
        movement = transfer(a_id, b_number, 120, key, actor_id=None, memo="one payment")
        db.session.commit()
        return movement

    results = run_threads(app, 8, pay)
    assert all(status == "ok" for status, _ in results), [repr(v) for s, v in results if s != "ok"]
    movements = [value for _, value in results]
    assert len({m.transaction_id for m in movements}) == 1
    assert sorted(m.replayed for m in movements) == [False] + [True] * 7
    first = next(m for m in movements if not m.replayed)
    assert all(m.ranges == first.ranges for m in movements)
    with app.app_context():
        rows = db.session.scalars(select(JournalTransaction).where(
            JournalTransaction.idempotency_scope == key.scope, JournalTransaction.idempotency_key == key.key)).all()
        assert [r.id for r in rows] == [first.transaction_id]
        assert balances(a_id, b_id) == {a_id: 1000 - 120, b_id: 500 + 120}
        # The same key with a different request is refused, not replayed.
        with pytest.raises(DomainError) as refused:
            transfer(a_id, b_number, 121, Idempotency(key.scope, key.key, "another-request"), actor_id=None)
        assert refused.value.code == "idempotency_key_reused"
        db.session.rollback()
        assert_registry_verifies()


def test_a_revocation_reaches_units_moved_while_it_reads_the_range(app, funded_pair, monkeypatch):
    """A transfer commits between revoke_range reading who holds the range and locking them:
    the units that moved are revoked from their new holder, and the ones left from the old."""
    (a_id, _), (b_id, b_number) = funded_pair  # A holds serials 1-600 of batch 1, B 601-1100
    lock_accounts, interleaved = movement.lock_accounts, []

    def transfer_then_lock(account_ids):
        if not interleaved:  # only the revocation's first lock; the transfer runs in another thread
            interleaved.append(True)
            results = run_threads(app, 1, lambda _i: (transfer(
                a_id, b_number, 200, Idempotency("user:a", "in-between", "h"), actor_id=None), db.session.commit()))
            assert results[0][0] == "ok", results
        return lock_accounts(account_ids)

    monkeypatch.setattr(revocations, "lock_accounts", transfer_then_lock)
    with app.app_context():
        prefix = db.session.scalar(select(IssuanceBatch.serial_prefix).order_by(IssuanceBatch.id))
        outcome = revocations.revoke_range(prefix, 1, 500, "fraud", Idempotency("auditor", "rv-race", "h"), actor_id=9)
        db.session.commit()
        monkeypatch.undo()
        assert interleaved and outcome["revoked_g"] == 500 and len(outcome["transactions"]) == 2
        # A sent serials 1-200 to B before the revocation locked them: B loses those 200, A its 201-500.
        assert balances(a_id, b_id) == {a_id: 1000 - 200 - 300, b_id: 500 + 200 - 200}
        assert_registry_verifies()
