"""Blocks cut in place (migration 0014): a movement taking the front of a block leaves the block
its id and the units it keeps and writes only the moved part; a cut inside a block still splits it.
What each movement moved stays as it was (block_movements records it), whatever is cut later:
history, the trace and replays answer from there.
"""
import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from accounting.issuance import revocations
from accounting.issuance.models import IssuanceBatch
from accounting.issuance.trace import trace_unit
from accounting.ledger.history import movements_of
from accounting.ledger.idempotency import Idempotency
from accounting.ledger.models import BlockMovement, CreditBlock
from accounting.ledger.transfers import transfer
from accounting.ledger.verify import verify_registry
from config.extensions import db
from tests.registry_support import BASE_DAY, failed, issue, open_accounts


def _blocks() -> list[tuple]:
    """(id, first, last, account, status, parent) of every block, in serial order."""
    return [tuple(row) for row in db.session.execute(select(
        CreditBlock.id, CreditBlock.first_serial, CreditBlock.last_serial, CreditBlock.account_id, CreditBlock.status,
        CreditBlock.parent_id).order_by(CreditBlock.first_serial, CreditBlock.id))]


def _send(from_id: int, to_number: str, grams: int, key: str):
    moved = transfer(from_id, to_number, grams, Idempotency("test", key, key), actor_id=None)
    db.session.commit()
    return moved


def _holders(prefix: str, serial: int) -> list[tuple[str, str]]:
    trace = trace_unit(f"{prefix}-{serial:09d}")
    return [(step["type"], step["account_number"]) for step in trace["holders"]]


@pytest.fixture
def three_holders(app):
    """A (1,000 g issued, units 1..1000), B and C with nothing."""
    with app.app_context():
        (a_id, a_number), (b_id, b_number), (c_id, c_number) = open_accounts(3)
        issue(BASE_DAY, {a_id: 1000})
        prefix = db.session.scalar(select(IssuanceBatch.serial_prefix))
    return prefix, (a_id, a_number), (b_id, b_number), (c_id, c_number)


def test_a_transfer_cuts_the_front_of_a_block_in_place(app, three_holders):
    prefix, (a_id, _), (b_id, b_number), _ = three_holders
    with app.app_context():
        [(issued_id, *_)] = _blocks()
        moved = _send(a_id, b_number, 100, "front")
        [moved_id] = [r.block_id for r in moved.ranges]
        # the block keeps its id and its units 101..1000; only the moved part is a new row
        assert _blocks() == [(moved_id, 1, 100, b_id, "active", issued_id),
                             (issued_id, 101, 1000, a_id, "active", None)]
        assert [(r.first, r.last) for r in moved.ranges] == [(1, 100)]
        assert db.session.execute(select(BlockMovement.block_id, BlockMovement.first_serial, BlockMovement.last_serial)
                                  .where(BlockMovement.transaction_id == moved.transaction_id)).all() \
            == [(moved_id, 1, 100)]
        assert not failed(verify_registry())


def test_what_a_movement_moved_stays_as_it_was_after_later_cuts(app, three_holders):
    prefix, (a_id, a_number), (b_id, b_number), (c_id, c_number) = three_holders
    with app.app_context():
        first = _send(a_id, b_number, 100, "to-b")  # A's block cut: B holds 1..100
        _send(b_id, c_number, 30, "b-to-c")  # B's block cut: C holds 1..30, B 31..100
        rest = _send(a_id, c_number, 900, "a-rest")  # A's block (101..1000) moves whole
        assert [(r.first, r.last) for r in rest.ranges] == [(101, 1000)]

        # A's history: the issue laid down 1..1000 and the first transfer moved 1..100, though
        # the blocks those movements moved have been cut since
        history = {h["type"]: h["serials"] for h in movements_of(a_id, limit=10) if h["amount_g"] in (1000, -100)}
        assert history == {"issue": [f"{prefix}-000000001-000001000"], "transfer": [f"{prefix}-000000001-000000100"]}
        # a replay answers with what the first call moved
        again = transfer(a_id, b_number, 100, Idempotency("test", "to-b", "to-b"), actor_id=None)
        assert again.replayed and [(r.first, r.last) for r in again.ranges] == [(1, 100)]
        assert again.ranges[0].block_id == first.ranges[0].block_id

        # each unit's holders are the movements that carried it, and no others
        assert _holders(prefix, 5) == [("issue", a_number), ("transfer", b_number), ("transfer", c_number)]
        assert _holders(prefix, 50) == [("issue", a_number), ("transfer", b_number)]
        assert _holders(prefix, 500) == [("issue", a_number), ("transfer", c_number)]
        # and the unit's event is found from the line the issue laid down (its block was cut)
        assert trace_unit(f"{prefix}-000000050")["event"] is not None
        assert not failed(verify_registry())


def test_a_cut_inside_a_block_still_splits_it(app, three_holders, monkeypatch):
    prefix, (a_id, _), _, _ = three_holders
    with app.app_context():
        [(issued_id, *_)] = _blocks()
        outcome = revocations.revoke_range(prefix, 400, 449, "fraud", Idempotency("auditor", "mid", "mid"), actor_id=7)
        db.session.commit()
        assert outcome["revoked_g"] == 50
        blocks = _blocks()
        assert (issued_id, 1, 1000, a_id, "split", None) in blocks  # history, as before 0014
        assert [(first, last, status) for _, first, last, _, status, parent in blocks if parent == issued_id] \
            == [(1, 399, "active"), (400, 449, "revoked"), (450, 1000, "active")]
        assert not failed(verify_registry())


def test_the_database_refuses_a_block_over_the_units_a_cut_block_kept(app, three_holders):
    from tests.conftest import as_owner

    _, (a_id, _), (b_id, b_number), _ = three_holders
    with app.app_context():
        _send(a_id, b_number, 100, "front")  # the issued block keeps 101..1000
        [(batch_id, created_in)] = db.session.execute(
            select(CreditBlock.batch_id, CreditBlock.created_in).where(CreditBlock.parent_id.is_(None))).all()
    with as_owner(app) as connection:  # even the tables' owner, going around every function
        with pytest.raises(DBAPIError, match="ex_credit_blocks_no_overlap"):
            connection.execute(text(
                "INSERT INTO credit_blocks (batch_id, first_serial, last_serial, account_id, status, created_in) "
                "VALUES (:batch, 1000, 1000, :account, 'active', :tx)"),
                {"batch": batch_id, "account": b_id, "tx": created_in})


def test_the_migration_keeps_what_moved_before_it_and_will_not_go_back_over_a_cut(
        fresh_postgres, restore_shared_extensions, capfd):
    """Movements made before 0014 moved whole blocks (a part was always split off as its own):
    the upgrade copies each block's range into its movement. Back to 0013 would read a cut
    block's movements as its range today, so the downgrade refuses once anything was cut."""
    from flask_migrate import downgrade, upgrade

    from tests.conftest import build_app

    app = build_app(fresh_postgres, None)  # migrated to the head
    with app.app_context():
        downgrade(revision="0013_tallies_partitioned")  # nothing cut yet: it goes back
        (a_id, a_number), (b_id, b_number) = open_accounts(2)
        issue(BASE_DAY, {a_id: 1000})
        _send(a_id, b_number, 100, "split-before-0014")  # 0013's function: the block split in three rows
        assert len(_blocks()) == 3
        db.session.remove()

        upgrade()
        moved = db.session.execute(text(
            "SELECT m.from_account_id, m.first_serial, m.last_serial FROM block_movements AS m "
            "ORDER BY m.transaction_id, m.first_serial")).all()
        assert moved == [(None, 1, 1000), (a_id, 1, 100)]
        assert not failed(verify_registry())

        # A's kept block (101..1000) cut in place: no movement ever named that block, so 0013 could
        # still read every movement right, and the downgrade would be allowed
        _send(a_id, b_number, 50, "cut-after-0014")
        assert (101, 150, b_id) in [(first, last, account) for _, first, last, account, _, _ in _blocks()]
        # B's block 1..100 cut in place: its transfer to B moved 1..100, its range is 31..100 now
        _send(b_id, a_number, 30, "cut-a-moved-block")
        assert (31, 100, b_id) in [(first, last, account) for _, first, last, account, _, _ in _blocks()]
        db.session.remove()
        with pytest.raises(SystemExit):  # Flask-Migrate logs the migration's error and exits
            downgrade(revision="0013_tallies_partitioned")
        assert "1 block movements were cut in place" in capfd.readouterr().err
        assert db.session.scalar(text("SELECT version_num FROM alembic_version")) == "0014_cut_in_place"
        db.session.remove()
        assert not failed(verify_registry())
        db.engine.dispose()
