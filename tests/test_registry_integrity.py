"""The registry's integrity: a crash mid-issue leaves nothing behind, tampering is refused by
PostgreSQL or detected by verify_registry(), and retired and revoked units never move.

Tampering is done the way an insider with database access would: plain SQL, with the
guard triggers switched off for the edit (as the test's superuser) where they would refuse it.
"""
from contextlib import contextmanager

import psycopg
import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError, IntegrityError

from accounting.errors import Conflict
from accounting.issuance import batches as issuance
from accounting.issuance import revocations
from accounting.issuance.models import IssuanceBatch
from accounting.issuance.summary import account_summary
from accounting.issuance.tasks import run_issuance_day
from accounting.ledger import accounts, audit, checkpoints, movement, retirements, serials
from accounting.ledger.idempotency import Idempotency
from accounting.ledger.models import (
    Account,
    AuditRecord,
    BlockMovement,
    CreditBlock,
    JournalEntry,
    JournalTransaction,
)
from accounting.ledger.movement import InsufficientBalance
from accounting.ledger.tasks import seal_audit_log
from accounting.ledger.transfers import transfer
from accounting.ledger.verify import verify_registry
from accounting.record.models import GreenEvent
from config.extensions import db
from tests.conftest import as_owner
from tests.registry_support import (
    BASE_DAY,
    add_reductions,
    balances,
    chain_check,
    failed,
    invariant_status,
    issue,
    open_accounts,
)

ALL_OK = {str(n): True for n in range(1, 12)}


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def assert_verifies() -> None:
    seal_audit_log()
    report = verify_registry()
    assert not failed(report), failed(report)


def only_failing(*numbers: int) -> dict[str, bool]:
    return ALL_OK | {str(n): False for n in numbers}


@contextmanager
def guards_off(app, table: str):
    """An insider with the tables' owner's rights (the app's own role has none of them) edits `table`
    with its guard triggers disabled, in one transaction that re-enables them."""
    with as_owner(app) as owner:
        owner.execute(text(f"ALTER TABLE {table} DISABLE TRIGGER USER"))
        yield owner
        owner.execute(text(f"ALTER TABLE {table} ENABLE TRIGGER USER"))


def refused(app, sql: str, match: str, error=DBAPIError, **params) -> None:
    """Even the tables' owner, guards on, is refused by the database itself."""
    with pytest.raises(error, match=match):
        with as_owner(app) as owner:
            owner.execute(text(sql), params)


# -- crash safety ----------------------------------------------------------------------

def _crash_by_exception():
    raise RuntimeError("worker killed mid-issue")


def _crash_by_killed_connection():
    db.session.execute(text("SELECT pg_terminate_backend(pg_backend_pid())"))


@pytest.mark.parametrize("crash", [_crash_by_exception, _crash_by_killed_connection], ids=["exception", "killed"])
def test_a_crash_mid_issue_leaves_nothing_and_the_rerun_issues_once(app, monkeypatch, crash):
    with app.app_context():
        (a_id, _), (b_id, _) = open_accounts(2)
        add_reductions(BASE_DAY, {a_id: 250, b_id: 130})
        db.session.commit()
        seen = {}
        issue_units = movement.issue

        def crashing(*args, **kwargs):
            issue_units(*args, **kwargs)  # blocks and entries are written...
            seen["blocks"], seen["entries"] = count(CreditBlock), count(JournalEntry)
            crash()  # ...and the worker dies before the batch is marked issued and committed

        monkeypatch.setattr(movement, "issue", crashing)
        with pytest.raises((RuntimeError, DBAPIError)):
            run_issuance_day(BASE_DAY)
        db.session.rollback()
        assert seen == {"blocks": 2, "entries": 3}
        assert count(CreditBlock) == count(JournalEntry) == count(JournalTransaction) == count(BlockMovement) == 0
        assert set(balances().values()) == {0}
        # The proposal either rolled back with the issue or was committed and waits, approved.
        assert set(db.session.scalars(select(IssuanceBatch.status))) <= {"approved"}
        assert set(db.session.scalars(select(GreenEvent.status))) == {"quantified"}

        monkeypatch.undo()
        result = run_issuance_day(BASE_DAY)
        assert len(result["issued"]) == 1
        assert balances(a_id, b_id) == {a_id: 250, b_id: 130}
        assert db.session.execute(select(IssuanceBatch.status, IssuanceBatch.quantity_g)).all() == [("issued", 380)]
        assert count(JournalTransaction) == 1 and count(CreditBlock) == 2
        assert run_issuance_day(BASE_DAY)["issued"] == []
        assert_verifies()


def test_a_batch_over_the_limit_waits_for_an_auditor_and_a_rejected_one_is_never_issued(app, monkeypatch):
    monkeypatch.setitem(app.config, "ISSUANCE_AUTO_APPROVE_MAX_G", 200)
    proposer, auditor = 5, 6
    with app.app_context():
        (a_id, _), (b_id, _) = open_accounts(2)
        add_reductions(BASE_DAY, {a_id: 250})
        db.session.commit()
        result = run_issuance_day(BASE_DAY, actor_id=proposer)
        assert result["issued"] == [] and len(result["proposed"]) == 1
        batch_id = result["proposed"][0]
        assert issuance.batch(batch_id).status == "proposed" and balances(a_id) == {a_id: 0}
        with pytest.raises(Conflict, match="approver_is_proposer"):
            issuance.approve_batch(batch_id, proposer)
        db.session.rollback()
        with pytest.raises(Conflict, match="batch_not_in_state"):
            issuance.issue_batch(batch_id, actor_id=None)
        db.session.rollback()
        issuance.approve_batch(batch_id, auditor, "checked")
        db.session.commit()
        assert run_issuance_day(BASE_DAY)["issued"] == [batch_id]
        assert balances(a_id) == {a_id: 250}

        day2 = BASE_DAY.replace(day=2)
        add_reductions(day2, {b_id: 300})
        db.session.commit()
        rejected = run_issuance_day(day2, actor_id=proposer)["proposed"][0]
        account_b = db.session.get(Account, b_id)
        assert account_summary(account_b)["pending_g"] == 300  # proposed: it waits for an auditor
        issuance.reject_batch(rejected, auditor, "implausible")
        db.session.commit()
        assert account_summary(account_b)["pending_g"] == 0  # rejected: it will never be issued
        assert run_issuance_day(day2) == {"day": day2.isoformat(), "proposed": [], "issued": []}
        for attempt in (lambda: issuance.approve_batch(rejected, auditor),
                        lambda: issuance.issue_batch(rejected, actor_id=None)):
            with pytest.raises(Conflict, match="batch_not_in_state"):
                attempt()
            db.session.rollback()
        assert balances(b_id) == {b_id: 0}
        assert set(db.session.scalars(select(GreenEvent.status).where(GreenEvent.account_id == b_id))) == {"quantified"}
        assert_verifies()


# -- tampering -------------------------------------------------------------------------

@pytest.fixture
def busy_registry(app):
    """A: 600 g and B: 400 g in one batch (A holds serials 1-600, B 601-1000); A sends B
    serials 1-100; B retires its oldest 50 (serials 1-50). Sealed, and verifying."""
    with app.app_context():
        (a_id, _), (b_id, b_number) = open_accounts(2)
        result = issue(BASE_DAY, {a_id: 600, b_id: 400})
        prefix = issuance.batch(result["issued"][0]).serial_prefix
        moved = transfer(a_id, b_number, 100, Idempotency("user:a", "t1", "h"), actor_id=None)
        assert [(r.first, r.last) for r in moved.ranges] == [(1, 100)]
        retirements.retire(b_id, 50, "滨州市民", "碳中和", Idempotency("user:b", "r1", "h"), actor_id=None)
        db.session.commit()
        assert_verifies()
        assert balances(a_id, b_id) == {a_id: 500, b_id: 450}
        return {"a": a_id, "b": b_id, "prefix": prefix, "transfer": moved.transaction_id}


def busy_registry_batch_id() -> int:
    return db.session.scalar(select(IssuanceBatch.id))


def test_an_edited_journal_entry_breaks_invariants_1_and_3(app, busy_registry):
    with app.app_context():
        entry_id = db.session.scalar(select(JournalEntry.id).where(
            JournalEntry.transaction_id == busy_registry["transfer"], JournalEntry.account_id == busy_registry["b"]))
        with guards_off(app, "journal_entries") as owner:
            owner.execute(text("UPDATE journal_entries SET amount_g = amount_g + 1 WHERE id = :id"), {"id": entry_id})
        report = verify_registry()
        assert invariant_status(report) == only_failing(1, 3)
        assert report[0]["examples"] == [f"{busy_registry['transfer']}: 1"]


@pytest.mark.parametrize("edit", [
    "action = 'transfer_reversed'",
    "payload = CAST('{\"amount_g\": 1}' AS json)",
    "actor = 'user:999'",
])
def test_an_edited_sealed_audit_record_breaks_the_chain(app, busy_registry, edit):
    with app.app_context():
        assert count(AuditRecord) >= 4
        with guards_off(app, "audit_records") as owner:
            owner.execute(text(f"UPDATE audit_records SET {edit} WHERE seq = 3"))
        report = verify_registry()
        assert invariant_status(report) == only_failing(8)
        # The chain breaks at the edited record; an edited movement record also no longer matches its
        # journal transaction's header.
        assert chain_check(report)["examples"][0] == "seq 3"
        assert all(example.endswith("header differs from its audit record") for example in chain_check(report)["examples"][1:])


def test_a_chain_rewritten_and_hashed_again_fails_against_the_heads_written_down_outside(app, busy_registry):
    """The insider edits a sealed record and recomputes every hash after it: the chain verifies with
    itself, but no longer passes through the heads the sealing wrote outside the database."""
    with app.app_context():
        rows = db.session.execute(select(AuditRecord).order_by(AuditRecord.seq)).scalars().all()
        with guards_off(app, "audit_records") as owner:
            owner.execute(text("UPDATE audit_records SET actor = 'user:999' WHERE seq = 2"))
            prev = rows[0].hash
            for row in rows[1:]:
                fresh = owner.execute(text("SELECT * FROM audit_records WHERE id = :id"), {"id": row.id}).one()
                rehashed = audit.chain_hash(prev, fresh.seq, fresh)
                owner.execute(text("UPDATE audit_records SET prev_hash = :p, hash = :h WHERE id = :id"),
                              {"p": prev, "h": rehashed, "id": row.id})
                prev = rehashed
        db.session.expire_all()
        assert audit.verify_chain()["ok"]  # the chain alone: consistent with itself
        report = verify_registry()
        assert invariant_status(report) == only_failing(8)
        head = checkpoints.latest(app.config["AUDIT_CHECKPOINT_DIR"])
        assert chain_check(report)["examples"] == [f"seq {head['seq']}"]


def test_an_edited_journal_header_no_longer_matches_its_sealed_record(app, busy_registry):
    with app.app_context():
        with as_owner(app) as owner:  # the app's role may not update the journal at all
            owner.execute(text("UPDATE journal_transactions SET memo = 'nothing to see' WHERE id = :id"),
                          {"id": busy_registry["transfer"]})
        report = verify_registry()
        assert invariant_status(report) == only_failing(8)
        assert chain_check(report)["examples"] == [f"transaction {busy_registry['transfer']}: header differs from its audit record"]


def test_the_latest_head_is_public(app, api, busy_registry):
    head = api.http.get("/api/v1/audit-checkpoint")
    assert head.status_code == 200
    with app.app_context():
        assert head.get_json()["hash"] == audit.verify_chain()["head_hash"]


def test_a_shortened_block_breaks_invariant_4(app, busy_registry):
    with app.app_context():
        # Active blocks are not guarded by a trigger (they must move), so no switch-off is needed.
        db.session.execute(text("UPDATE credit_blocks SET last_serial = last_serial - 1 "
                                "WHERE status = 'active' AND last_serial = 1000"))
        db.session.commit()
        report = verify_registry()
        assert not invariant_status(report)["4"]
        assert report[3]["examples"] == [f"{busy_registry_batch_id()}: covers 999 of 1000"]
        assert invariant_status(report) == only_failing(3, 4)  # B's balance no longer matches its blocks


def test_postgresql_refuses_tampering_with_the_guards_on(app, busy_registry):
    a_id, b_id = busy_registry["a"], busy_registry["b"]
    with app.app_context():
        batch_id, transaction_id = busy_registry_batch_id(), busy_registry["transfer"]
        refused(app, "UPDATE journal_entries SET amount_g = amount_g + 1", "append-only")
        refused(app, "DELETE FROM journal_entries WHERE transaction_id = :t", "append-only", t=transaction_id)
        refused(app, "UPDATE block_movements SET to_account_id = :a", "append-only", a=a_id)
        refused(app, "UPDATE credit_blocks SET account_id = :a, status = 'active' WHERE status = 'retired'",
                "can never move again", a=a_id)
        refused(app, "DELETE FROM credit_blocks WHERE status = 'retired'", "can never move again")
        refused(app, "UPDATE audit_records SET action = 'nothing' WHERE seq = 1", "is sealed")
        refused(app, "DELETE FROM audit_records", "is sealed")
        for overlap in (
            "INSERT INTO credit_blocks (batch_id, first_serial, last_serial, account_id, status, created_in) "
            "VALUES (:batch, 590, 610, :a, 'active', :t)",
            "UPDATE credit_blocks SET last_serial = 601 WHERE status = 'active' AND last_serial = 600",
        ):
            with pytest.raises(IntegrityError) as error:
                db.session.execute(text(overlap), {"batch": batch_id, "a": a_id, "t": transaction_id})
            assert isinstance(error.value.orig, psycopg.errors.ExclusionViolation)
            db.session.rollback()

        for amounts in ((-5, 4), (5,)):  # entries not summing to zero / a single entry
            tx = db.session.execute(text(
                "INSERT INTO journal_transactions (kind, idempotency_scope, idempotency_key, request_hash, created_at) "
                "VALUES ('transfer', 'insider', :key, 'h', now()) RETURNING id"), {"key": f"k{len(amounts)}"}).scalar()
            for account_id, amount in zip((a_id, b_id), amounts):
                db.session.execute(text("INSERT INTO journal_entries (transaction_id, account_id, amount_g) "
                                        "VALUES (:tx, :account, :amount)"),
                                   {"tx": tx, "account": account_id, "amount": amount})
            with pytest.raises(DBAPIError, match="unbalanced"):
                db.session.commit()  # every statement passed; the deferred check refuses the commit
            db.session.rollback()
        with pytest.raises(DBAPIError, match="unbalanced_transaction"):  # the ledger's own posting refuses at once
            db.session.execute(text("SELECT ledger_post(:tx, ARRAY[:a, :b]::bigint[], ARRAY[-5, 4]::bigint[])"),
                               {"tx": transaction_id, "a": a_id, "b": b_id})
        db.session.rollback()

        assert count(JournalTransaction) == 3 and balances(a_id, b_id) == {a_id: 500, b_id: 450}
        assert invariant_status(verify_registry()) == ALL_OK


@pytest.mark.parametrize("statement", [
    "ALTER TABLE journal_entries DISABLE TRIGGER USER",
    "ALTER TABLE credit_blocks DROP CONSTRAINT ex_credit_blocks_no_overlap",
    "TRUNCATE journal_entries",
    "TRUNCATE audit_records",
    "UPDATE journal_transactions SET memo = 'rewritten'",
    "UPDATE journal_transactions SET request_hash = 'forged'",
    "DELETE FROM journal_transactions",
    "UPDATE audit_records SET payload = '{}'::jsonb",
    "UPDATE audit_records SET action = 'nothing'",
    "DELETE FROM audit_records",
    "DELETE FROM credit_blocks",
    "DELETE FROM accounts",
    "UPDATE block_movements SET to_account_id = from_account_id",
    "DROP TABLE retirements",
])
def test_the_apps_own_role_may_not_switch_a_guard_off_or_rewrite_history(app, busy_registry, statement):
    """What an insider with the app's credentials tries: the database refuses the role itself."""
    with app.app_context():
        with pytest.raises(DBAPIError) as refusal:
            db.session.execute(text(statement))
        assert isinstance(refusal.value.orig, psycopg.errors.InsufficientPrivilege), refusal.value
        db.session.rollback()


def test_the_apps_own_role_seals_the_audit_log_but_edits_nothing_else_of_it(app, busy_registry):
    with app.app_context():
        role = db.session.scalar(text("SELECT current_user"))
        assert role == "binzhou_app"
        granted = set(db.session.execute(text(
            "SELECT privilege_type || ':' || coalesce(column_name, '*') FROM ("
            " SELECT privilege_type, NULL AS column_name FROM information_schema.role_table_grants"
            "  WHERE table_name = 'audit_records' AND grantee = current_user"
            " UNION ALL SELECT privilege_type, column_name FROM information_schema.role_column_grants"
            "  WHERE table_name = 'audit_records' AND grantee = current_user AND privilege_type = 'UPDATE') g")
        ).scalars())
        assert {"SELECT:*", "INSERT:*", "UPDATE:seq", "UPDATE:hash", "UPDATE:prev_hash", "UPDATE:sealed_at"} <= granted
        assert not {"DELETE:*", "TRUNCATE:*", "UPDATE:*", "UPDATE:payload", "UPDATE:action"} & granted


# -- retired and revoked units never move --------------------------------------------------

def test_retired_and_revoked_units_never_move_again(app, busy_registry):
    a_id, b_id, prefix = busy_registry["a"], busy_registry["b"], busy_registry["prefix"]
    with app.app_context():
        retired_id, revoked_id = accounts.system_account_id("retirement"), accounts.system_account_id("revocation")
        before = balances()
        outcome = revocations.revoke_range(prefix, 1, 50, "fraud", Idempotency("auditor", "rv1", "h1"), actor_id=9)
        db.session.commit()
        assert outcome["revoked_g"] == 0 and outcome["transactions"] == []
        assert outcome["not_moved_g"] == {"retired": 50}
        assert balances() == before

        outcome = revocations.revoke_range(prefix, 1, 120, "fraud", Idempotency("auditor", "rv2", "h2"), actor_id=9)
        db.session.commit()
        assert outcome["revoked_g"] == 70 and len(outcome["transactions"]) == 2  # B's 51-100, A's 101-120
        assert outcome["not_moved_g"] == {"retired": 50}
        assert balances(a_id, b_id, retired_id, revoked_id) == {a_id: 480, b_id: 400, retired_id: 50, revoked_id: 70}

        again = revocations.revoke_range(prefix, 1, 120, "again", Idempotency("auditor", "rv3", "h3"), actor_id=9)
        db.session.commit()
        assert again["revoked_g"] == 0 and again["not_moved_g"] == {"retired": 50, "revoked": 70}

        # Not even the system accounts holding them can send them anywhere.
        for holder, key in ((retired_id, "mv1"), (revoked_id, "mv2")):
            with pytest.raises(InsufficientBalance):
                movement.move("transfer", holder, a_id, 10, Idempotency("insider", key, "h"), actor_id=None)
            db.session.rollback()
        final = db.session.execute(select(CreditBlock.first_serial, CreditBlock.last_serial, CreditBlock.account_id)
                                   .where(CreditBlock.status.in_(("retired", "revoked")))
                                   .order_by(CreditBlock.first_serial)).all()
        assert [tuple(row) for row in final] == [(1, 50, retired_id), (51, 100, revoked_id), (101, 120, revoked_id)]
        assert balances(a_id, b_id, retired_id, revoked_id) == {a_id: 480, b_id: 400, retired_id: 50, revoked_id: 70}
        assert_verifies()


def test_python_and_the_ledger_functions_write_serials_one_way(app):
    with app.app_context():
        for prefix, first, last in (("BZ-TRIP1-20261123-0007", 1, 468), ("BZ-RECYCLE12-20270101-0123", 999, 999_999_999)):
            written = db.session.scalar(text("SELECT ledger_serials(:p, :f, :l)"), {"p": prefix, "f": first, "l": last})
            assert written == serials.serial_range(prefix, first, last)
            assert serials.parse_unit(f"{prefix}-{first:09d}") == (prefix, first)
        assert serials.serial_range("BZ-TRIP1-20261123-0007", 1, 468) == "BZ-TRIP1-20261123-0007-000000001-000000468"
