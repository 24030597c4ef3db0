"""A day issued end to end, then units moved, retired and revoked; the registry verifies throughout."""

import pytest
from sqlalchemy import select

from accounting.business_day import shanghai_day
from accounting.issuance import batches as issuance
from accounting.issuance import revocations
from accounting.issuance.tasks import run_issuance_day
from accounting.ledger import retirements
from accounting.ledger.idempotency import Idempotency
from accounting.ledger.models import Account, CreditBlock
from accounting.ledger.tasks import seal_audit_log
from accounting.ledger.transfers import transfer
from accounting.ledger.verify import verify_registry
from accounting.record.models import GreenEvent
from config.extensions import db
from tests.support import ago


def _failed(report):
    return [check for check in report if not check["ok"]]


@pytest.fixture
def issued_day(app, api):
    """Two residents with quantified trips yesterday... issued."""
    start = ago(days=1)
    residents = [api.register() for _ in range(2)]
    for resident, km in zip(residents, (10, 5)):
        assert api.trip(resident, mode="metro", distance_m=km * 1000, start=start).status_code == 202
    day = shanghai_day(start)
    with app.app_context():
        result = run_issuance_day(day)
        seal_audit_log()
    return residents, day, result


def test_a_day_is_issued_once_and_the_registry_verifies(app, api, issued_day):
    residents, day, result = issued_day
    assert len(result["issued"]) == 1
    with app.app_context():
        batch = issuance.batch(result["issued"][0])
        assert batch.status == "issued" and batch.quantity_g == 468 + 234
        assert batch.serial_prefix == f"BZ-TRIP1-{day:%Y%m%d}-0001"
        balances = dict(db.session.execute(select(Account.number, Account.balance_g).where(
            Account.number.in_([r.account_number for r in residents]))).all())
        assert balances == {residents[0].account_number: 468, residents[1].account_number: 234}
        assert not _failed(verify_registry())
        again = run_issuance_day(day)
        assert again["proposed"] == [] and again["issued"] == []
        statuses = set(db.session.scalars(select(GreenEvent.status)))
        assert statuses == {"issued"}


def test_transfer_retire_and_revoke_keep_every_invariant(app, api, issued_day):
    (alice, bob), day, result = issued_day
    with app.app_context():
        ids = dict(db.session.execute(select(Account.number, Account.id)).all())
        moved = transfer(ids[alice.account_number], bob.account_number, 100,
                                  Idempotency("user:1", "gift-1", "h1"), actor_id=None, memo="gift")
        assert [r.serials for r in moved.ranges] == [f"BZ-TRIP1-{day:%Y%m%d}-0001-000000001-000000100"] or \
            moved.ranges[0].last - moved.ranges[0].first + 1 == 100
        replay = transfer(ids[alice.account_number], bob.account_number, 100,
                                   Idempotency("user:1", "gift-1", "h1"), actor_id=None)
        assert replay.replayed and replay.transaction_id == moved.transaction_id
        retirement = retirements.retire(ids[bob.account_number], 50, "滨州市民", "碳中和", Idempotency("u", "r1", "h"),
                                     actor_id=None)
        assert retirement.number.startswith("BZR-")
        batch = issuance.batch(result["issued"][0])
        outcome = revocations.revoke_range(batch.serial_prefix, 1, batch.quantity_g, "fraud test",
                                        Idempotency("auditor", "rev-1", "h"), actor_id=7)
        assert outcome["revoked_g"] == 468 + 234 - 50
        assert outcome["not_moved_g"] == {"retired": 50}
        db.session.commit()
        seal_audit_log()
        assert not _failed(verify_registry()), verify_registry()
        balances = dict(db.session.execute(select(Account.number, Account.balance_g)).all())
        assert balances[alice.account_number] == 0 and balances[bob.account_number] == 0
        assert balances["SYSRETIRED"] == 50 and balances["SYSREVOKED"] == 652
        assert db.session.scalar(select(CreditBlock.id).where(CreditBlock.status == "retired")) is not None


def test_a_revocation_replayed_with_its_key_answers_as_the_first_time(app, api, issued_day):
    (alice, bob), day, result = issued_day
    with app.app_context():
        ids = dict(db.session.execute(select(Account.number, Account.id)).all())
        retirements.retire(ids[bob.account_number], 34, "x", "y", Idempotency("u", "r", "h"), actor_id=None)
        batch = issuance.batch(result["issued"][0])
        key = Idempotency("auditor:7", "rev-%_1", "range-1")
        first = revocations.revoke_range(batch.serial_prefix, 1, batch.quantity_g, "fraud", key, actor_id=7)
        db.session.commit()
        again = revocations.revoke_range(batch.serial_prefix, 1, batch.quantity_g, "fraud", key, actor_id=7)
        assert again == first and first["revoked_g"] == 702 - 34 and first["not_moved_g"] == {"retired": 34}
        with pytest.raises(Exception) as refused:
            revocations.revoke_range(batch.serial_prefix, 1, 10, "fraud", Idempotency("auditor:7", "rev-%_1", "other"),
                                  actor_id=7)
        assert getattr(refused.value, "code", None) == "idempotency_key_reused"
