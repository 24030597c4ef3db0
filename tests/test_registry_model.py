"""A stateful model of the registry: random issue / transfer / retire / revoke / freeze
sequences against PostgreSQL, checked after every step against a plain in-memory model.

The model tracks every serial of every batch (who holds it, and whether it is active,
retired or revoked). The ledger takes a sender's oldest units first (by batch, then
serial), so the model predicts exactly which serials each movement carries, and after
every step the database's balances and non-split blocks must match it serial for serial,
and at the end of every example verify_registry() must report all 8 invariants ok.
"""
from datetime import timedelta

from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import select

from accounting.errors import Conflict, DomainError
from accounting.issuance import revocations
from accounting.issuance.models import IssuanceBatch
from accounting.ledger import accounts, retirements
from accounting.ledger.idempotency import Idempotency
from accounting.ledger.models import Account, CreditBlock
from accounting.ledger.movement import InsufficientBalance
from accounting.ledger.tasks import seal_audit_log
from accounting.ledger.transfers import transfer
from accounting.ledger.verify import verify_registry
from config.extensions import db
from tests.registry_support import BASE_DAY, balances, failed, issue, open_accounts, reset_registry

HOLDERS = 4
AUDITOR = 900
MACHINE_SETTINGS = settings(max_examples=15, stateful_step_count=20, deadline=None,
                            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])

holder_index = st.integers(0, HOLDERS - 1)


class Batch:
    """The model of one issued batch: per serial (index serial-1), its holder and status."""

    def __init__(self, batch_id: int, prefix: str, lines: dict[int, int]):
        self.id, self.prefix = batch_id, prefix
        self.owner, self.status = [], []
        for account_id in sorted(lines):  # serials run consecutively by account id
            self.owner += [account_id] * lines[account_id]
            self.status += ["active"] * lines[account_id]

    @property
    def quantity(self) -> int:
        return len(self.owner)


class RegistryMachine(RuleBasedStateMachine):
    app = None  # set by the test
    accounts: list[tuple[int, str]] = []  # [(id, number)] of the holders, opened once by the test

    def __init__(self):
        super().__init__()
        with self.app.app_context():
            reset_registry(self.app)  # every example starts from an empty registry, 0 g everywhere
            self.issuance_id = accounts.system_account_id("issuance")
            self.retired_id = accounts.system_account_id("retirement")
            self.revoked_id = accounts.system_account_id("revocation")
            self.escrow_id = accounts.system_account_id("escrow")  # unused here: stays at 0
            self.pool_id = accounts.system_account_id("pool")  # unused here: stays at 0
            # Money only (the market): never hold credits.
            self.money_only = [accounts.system_account_id("bank"), accounts.system_account_id("fees")]
        self.batches: list[Batch] = []
        self.frozen: set[int] = set()
        self.vintage_batches: dict[tuple[str, int], int] = {}
        self.keys = 0
        self.last_transfer = None

    # -- the model ---------------------------------------------------------------------

    def key(self, scope: str) -> Idempotency:
        self.keys += 1
        return Idempotency(scope, f"model-{self.keys}", f"request-{self.keys}")

    def active_units(self, account_id: int):
        """The account's active units, oldest first: (batch, serial index)."""
        for batch in self.batches:
            for index, (owner, status) in enumerate(zip(batch.owner, batch.status)):
                if owner == account_id and status == "active":
                    yield batch, index

    def balance(self, account_id: int) -> int:
        return sum(1 for _ in self.active_units(account_id))

    def take(self, from_id: int, to_id: int, amount: int, status: str) -> set:
        taken = set()
        for batch, index in list(self.active_units(from_id))[:amount]:
            batch.owner[index], batch.status[index] = to_id, status
            taken.add((batch.prefix, index + 1))
        assert len(taken) == amount
        return taken

    def expected_balances(self) -> dict[int, int]:
        expected = {account_id: self.balance(account_id) for account_id, _ in self.accounts}
        expected[self.escrow_id] = expected[self.pool_id] = 0
        expected.update(dict.fromkeys(self.money_only, 0))
        expected[self.issuance_id] = -sum(b.quantity for b in self.batches)
        for system_id, status in ((self.retired_id, "retired"), (self.revoked_id, "revoked")):
            expected[system_id] = sum(s == status for b in self.batches for s in b.status)
        return expected

    def outcome_of_move(self, from_id: int, to_id: int | None, amount: int) -> str:
        if from_id in self.frozen or to_id in self.frozen:
            return "account_frozen"
        return "insufficient_balance" if self.balance(from_id) < amount else "ok"

    @staticmethod
    def serials(ranges) -> set:
        return {(r.serial_prefix, s) for r in ranges for s in range(r.first, r.last + 1)}

    def expect_refusal(self, code: str, call):
        event(f"refused: {code}")
        try:
            call()
        except DomainError as error:
            db.session.rollback()
            assert error.code == code, (error.code, code, error.params)
            if code == "insufficient_balance":
                assert isinstance(error, InsufficientBalance)
            if code == "account_frozen":
                assert isinstance(error, Conflict)
        else:
            raise AssertionError(f"expected {code}, the call succeeded")

    # -- rules -------------------------------------------------------------------------

    @initialize(grams=st.lists(st.integers(1, 300), min_size=HOLDERS, max_size=HOLDERS))
    def issue_to_everyone(self, grams):
        self.issue(dict(enumerate(grams)), 0, "TRIP")

    @rule(grams=st.dictionaries(holder_index, st.integers(1, 300), min_size=1, max_size=HOLDERS),
          day=st.integers(0, 2), code=st.sampled_from(["TRIP", "RECYCLE"]))
    def issue(self, grams, day, code):
        vintage = BASE_DAY + timedelta(days=day)
        lines = {self.accounts[i][0]: g for i, g in grams.items()}
        with self.app.app_context():
            result = issue(vintage, lines, code=code)
            assert len(result["proposed"]) == 1 and result["issued"] == result["proposed"]
            found = db.session.get(IssuanceBatch, result["issued"][0])
            number = self.vintage_batches.get((code, day), 0) + 1
            assert found.status == "issued" and found.quantity_g == sum(lines.values())
            assert found.serial_prefix == f"BZ-{code}1-{vintage:%Y%m%d}-{number:04d}"
            self.vintage_batches[(code, day)] = number
            self.batches.append(Batch(found.id, found.serial_prefix, lines))

    @rule(sender=holder_index, receiver=holder_index, amount=st.integers(1, 160))
    def transfer(self, sender, receiver, amount):
        if sender == receiver:
            return
        (from_id, _), (to_id, to_number) = self.accounts[sender], self.accounts[receiver]
        outcome = self.outcome_of_move(from_id, to_id, amount)
        key = self.key(f"user:{from_id}")
        with self.app.app_context():
            call = lambda: transfer(from_id, to_number, amount, key, actor_id=None, memo="model")  # noqa: E731
            if outcome != "ok":
                return self.expect_refusal(outcome, call)
            movement = call()
            db.session.commit()
        assert not movement.replayed and movement.amount_g == amount
        assert self.serials(movement.ranges) == self.take(from_id, to_id, amount, "active")
        self.last_transfer = (from_id, to_number, amount, key, movement)
        event("transfer split a block" if len(movement.ranges) == 1 else "transfer took several blocks")

    @precondition(lambda self: self.last_transfer is not None)
    @rule()
    def replay_last_transfer(self):
        from_id, to_number, amount, key, first = self.last_transfer
        with self.app.app_context():
            replay = transfer(from_id, to_number, amount, key, actor_id=None)
            db.session.commit()
            assert replay.replayed and replay.transaction_id == first.transaction_id
            assert self.serials(replay.ranges) == self.serials(first.ranges)
            changed = Idempotency(key.scope, key.key, key.request_hash + "-changed")
            self.expect_refusal("idempotency_key_reused", lambda: transfer(
                from_id, to_number, amount + 1, changed, actor_id=None))

    @rule(holder=holder_index, amount=st.integers(1, 120))
    def retire(self, holder, amount):
        account_id = self.accounts[holder][0]
        outcome = self.outcome_of_move(account_id, None, amount)
        with self.app.app_context():
            call = lambda: retirements.retire(account_id, amount, "滨州市民", "模型测试", self.key("retire"),  # noqa: E731
                                           actor_id=None)
            if outcome != "ok":
                return self.expect_refusal(outcome, call)
            retirement = call()
            number, retired_amount = retirement.number, retirement.amount_g
            db.session.commit()
        assert number.startswith("BZR-") and retired_amount == amount
        self.take(account_id, self.retired_id, amount, "retired")

    @precondition(lambda self: self.batches)
    @rule(data=st.data())
    def revoke(self, data):
        batch = data.draw(st.sampled_from(self.batches))
        first = data.draw(st.integers(1, batch.quantity), label="first")
        last = data.draw(st.integers(first, min(batch.quantity, first + 120)), label="last")
        span = range(first - 1, last)
        holders = {batch.owner[i] for i in span if batch.status[i] == "active"}
        not_moved = {}
        for i in span:
            if batch.status[i] != "active":
                not_moved[batch.status[i]] = not_moved.get(batch.status[i], 0) + 1
        with self.app.app_context():
            result = revocations.revoke_range(batch.prefix, first, last, "model revocation", self.key("auditor"),
                                           actor_id=AUDITOR)
            db.session.commit()
        revoked = 0
        for i in span:
            if batch.status[i] == "active":
                batch.owner[i], batch.status[i] = self.revoked_id, "revoked"
                revoked += 1
        assert result["revoked_g"] == revoked
        assert result["not_moved_g"] == not_moved
        assert len(result["transactions"]) == len(holders)
        event("revoke met retired/revoked units" if not_moved else "revoke of active units only")

    @rule(holder=holder_index, insist=st.booleans())
    def freeze_or_unfreeze(self, holder, insist):
        """Freeze an unfrozen account or unfreeze a frozen one; `insist`: first try the wrong one."""
        account_id = self.accounts[holder][0]
        frozen = account_id in self.frozen
        with self.app.app_context():
            if insist and frozen:
                self.expect_refusal("account_frozen", lambda: accounts.freeze(account_id, AUDITOR, "again"))
            elif insist:
                self.expect_refusal("account_not_frozen", lambda: accounts.unfreeze(account_id, AUDITOR, "not frozen"))
            (accounts.unfreeze if frozen else accounts.freeze)(account_id, AUDITOR, "model")
            db.session.commit()
        (self.frozen.discard if frozen else self.frozen.add)(account_id)

    # -- after every step --------------------------------------------------------------

    def model_runs(self) -> list[tuple]:
        """The model's holdings as maximal runs: (batch id, first, last, holder, status)."""
        runs = []
        for batch in self.batches:
            for index, unit in enumerate(zip(batch.owner, batch.status), start=1):
                if runs and runs[-1][0] == batch.id and runs[-1][3:] == unit:
                    runs[-1] = runs[-1][:2] + (index,) + unit
                else:
                    runs.append((batch.id, index, index) + unit)
        return runs

    @staticmethod
    def database_runs() -> list[tuple]:
        """The non-split blocks, adjacent ones of one holder and status merged; overlaps refused."""
        runs = []
        for row in db.session.execute(select(
                CreditBlock.batch_id, CreditBlock.first_serial, CreditBlock.last_serial, CreditBlock.account_id,
                CreditBlock.status).where(CreditBlock.status != "split")
                .order_by(CreditBlock.batch_id, CreditBlock.first_serial)):
            if runs and runs[-1][0] == row.batch_id:
                assert row.first_serial > runs[-1][2], f"overlapping blocks at {row}"
                if runs[-1][3:] == (row.account_id, row.status) and row.first_serial == runs[-1][2] + 1:
                    runs[-1] = runs[-1][:2] + (row.last_serial,) + runs[-1][3:]
                    continue
            runs.append(tuple(row))
        return runs

    @invariant()
    def database_matches_the_model(self):
        with self.app.app_context():
            assert balances() == self.expected_balances()
            assert self.database_runs() == self.model_runs()
            frozen = select(Account.id).where(Account.frozen_at.is_not(None))
            assert set(db.session.scalars(frozen)) == self.frozen

    def teardown(self):
        """At the end of every example, every invariant holds (the audit log sealed first)."""
        with self.app.app_context():
            seal_audit_log()
            report = verify_registry()
            assert not failed(report), failed(report)
            [chain] = [check for check in report if check["invariant"].startswith("8 ")]
            assert chain["unsealed"] == 0 and chain["sealed"] > 0


def test_registry_behaves_like_its_model(app, monkeypatch):
    RegistryMachine.app = app
    with app.app_context():
        RegistryMachine.accounts = open_accounts(HOLDERS)
    run_state_machine_as_test(RegistryMachine, settings=MACHINE_SETTINGS)
