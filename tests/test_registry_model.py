"""A stateful model of the registry and its market: random issue / transfer / retire / revoke /
freeze sequences, and donations to the pool, deposits, listings, cancels, expiries and orders,
against PostgreSQL, checked after every step against a plain in-memory model of both ledgers
(tests/registry_model_support.py).

The model tracks every serial of every batch (who holds it, and whether it is active, retired
or revoked) and every account's money. The ledger takes a sender's oldest units first (by batch,
then serial), so the model predicts exactly which serials each movement carries; it predicts an
order's fills (cheapest then oldest, min lots), their cost and fee by MARKET.md's rounding, and
every refusal (nothing moves). After every step the database's balances, non-split blocks,
money (free and reserved), listings and wallets must match it, and at the end of every example
verify_registry() must report all 11 invariants ok.
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

from accounting.errors import Conflict, DomainError, NotFound
from accounting.issuance import revocations
from accounting.issuance.models import IssuanceBatch
from accounting.ledger import accounts, retirements
from accounting.ledger.donations import donate
from accounting.ledger.idempotency import Idempotency
from accounting.ledger.models import Account, Retirement
from accounting.ledger.movement import InsufficientBalance, InsufficientFunds, ranges_of
from accounting.ledger.tasks import seal_audit_log
from accounting.ledger.transfers import transfer
from accounting.ledger.verify import verify_registry
from accounting.market import listings, money, orders, pricing
from accounting.market.models import Fill
from config.db_types import utcnow
from config.extensions import db
from tests.market_support import approved_enterprises
from tests.registry_model_support import (
    Batch,
    Ledgers,
    ModelListing,
    database_listings,
    database_money,
    database_runs,
    serials,
)
from tests.registry_support import BASE_DAY, balances, chain_check, failed, issue, open_accounts, reset_registry

RESIDENTS = 4
MERCHANT = RESIDENTS  # the party indices after the residents: a merchant, then two enterprises
ENTERPRISES = (RESIDENTS + 1, RESIDENTS + 2)
POOL = "pool"
AUDITOR = 900
FEE_BP = 250  # 2.5 %: fees of a few fen round down, so the rounding shows
MACHINE_SETTINGS = settings(max_examples=20, stateful_step_count=30, deadline=None,
                            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])

resident_index = st.integers(0, RESIDENTS - 1)
holder_index = st.integers(0, MERCHANT)  # who transfers credits: residents and the merchant
party_index = st.integers(0, ENTERPRISES[-1])  # who may retire, or be frozen
seller_index = st.sampled_from([MERCHANT, *ENTERPRISES, POOL])  # MARKET.md: organizations and the pool list
buyer_index = st.sampled_from(ENTERPRISES)  # only enterprises buy
# Prices round the cost up at the tonne's edges (1 fen/t, 10^6 ± 1 fen/t) and everywhere between.
prices = st.one_of(st.sampled_from([1, 43_500, 999_999, 1_000_000, 1_000_001]), st.integers(1, 3_000_000))


class RegistryMachine(RuleBasedStateMachine):
    app = None  # set by the test
    accounts: list[tuple[int, str]] = []  # [(id, number)] of the parties, opened once by the test

    def __init__(self):
        super().__init__()
        with self.app.app_context():
            reset_registry(self.app)  # every example starts from an empty registry, 0 g and 0 fen everywhere
            self.pool_id = accounts.system_account_id("pool")
            self.model = Ledgers(*(accounts.system_account_id(kind)
                                   for kind in ("issuance", "retirement", "revocation", "bank", "fees")))
        self.vintage_batches: dict[tuple[str, int], int] = {}
        self.keys = 0
        self.last_transfer = self.last_order = None

    def key(self, scope: str) -> Idempotency:
        self.keys += 1
        return Idempotency(scope, f"model-{self.keys}", f"request-{self.keys}")

    def party(self, index) -> int:
        return self.pool_id if index == POOL else self.accounts[index][0]

    def expect_refusal(self, code: str, call):
        event(f"refused: {code}")
        try:
            call()
        except DomainError as error:
            db.session.rollback()
            assert error.code == code, (error.code, code, error.params)
            expected_class = {"insufficient_balance": InsufficientBalance, "insufficient_funds": InsufficientFunds,
                              "account_frozen": Conflict, "no_fill": Conflict, "self_trade": Conflict,
                              "listing_not_open": Conflict, "listing_not_found": NotFound}.get(code, DomainError)
            assert isinstance(error, expected_class), (error, expected_class)
        else:
            raise AssertionError(f"expected {code}, the call succeeded")

    # -- the registry ------------------------------------------------------------------

    @initialize(grams=st.lists(st.integers(2, 400), min_size=RESIDENTS, max_size=RESIDENTS),
                funds=st.tuples(st.integers(1, 400), st.integers(1, 400)), pool_price=prices,
                merchant_price=prices, data=st.data())
    def open_the_market(self, grams, funds, pool_price, merchant_price, data):
        """Credits issued to every resident; the first gives half to the pool, the second sends
        half to the merchant, and both list what they got; both enterprises have money."""
        self.issue(dict(enumerate(grams)), 0, "TRIP")
        self.donate(0, grams[0] // 2)
        self.transfer(1, MERCHANT, grams[1] // 2)
        self.list_credits(POOL, grams[0] // 2, False, pool_price, False, data)
        self.list_credits(MERCHANT, grams[1] // 2, False, merchant_price, True, data)
        for enterprise, amount in zip(ENTERPRISES, funds):
            self.record_deposit(self.party(enterprise), amount, None)

    @rule(grams=st.dictionaries(resident_index, st.integers(1, 300), min_size=1, max_size=RESIDENTS),
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
            self.model.batches.append(Batch(found.id, found.serial_prefix, lines))

    @rule(sender=holder_index, receiver=holder_index, amount=st.integers(1, 160))
    def transfer(self, sender, receiver, amount):
        if sender == receiver:
            return
        (from_id, _), (to_id, to_number) = self.accounts[sender], self.accounts[receiver]
        outcome = self.model.outcome_of_move(from_id, to_id, amount)
        key = self.key(f"user:{from_id}")
        with self.app.app_context():
            call = lambda: transfer(from_id, to_number, amount, key, actor_id=None, memo="model")  # noqa: E731
            if outcome != "ok":
                return self.expect_refusal(outcome, call)
            movement = call()
            db.session.commit()
        assert not movement.replayed and movement.amount_g == amount
        assert serials(movement.ranges) == self.model.take(from_id, to_id, amount)
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
            assert serials(replay.ranges) == serials(first.ranges)
            changed = Idempotency(key.scope, key.key, key.request_hash + "-changed")
            self.expect_refusal("idempotency_key_reused", lambda: transfer(
                from_id, to_number, amount + 1, changed, actor_id=None))

    @rule(holder=party_index, amount=st.integers(1, 120))
    def retire(self, holder, amount):
        account_id = self.accounts[holder][0]
        outcome = self.model.outcome_of_move(account_id, None, amount)
        with self.app.app_context():
            call = lambda: retirements.retire(account_id, amount, "滨州市民", "模型测试", self.key("retire"),  # noqa: E731
                                           actor_id=None)
            if outcome != "ok":
                return self.expect_refusal(outcome, call)
            retirement = call()
            number, retired_amount = retirement.number, retirement.amount_g
            db.session.commit()
        assert number.startswith("BZR-") and retired_amount == amount
        self.model.take(account_id, self.model.retired_id, amount, "retired")

    @precondition(lambda self: self.model.batches)
    @rule(data=st.data())
    def revoke(self, data):
        batch = data.draw(st.sampled_from(self.model.batches))
        first = data.draw(st.integers(1, batch.quantity), label="first")
        last = data.draw(st.integers(first, min(batch.quantity, first + 120)), label="last")
        span = range(first - 1, last)
        holders, not_moved = {}, {}
        for i in span:
            if batch.status[i] == "active":
                holders[batch.owner[i]] = holders.get(batch.owner[i], 0) + 1
            else:
                not_moved[batch.status[i]] = not_moved.get(batch.status[i], 0) + 1
        with self.app.app_context():
            result = revocations.revoke_range(batch.prefix, first, last, "model revocation", self.key("auditor"),
                                           actor_id=AUDITOR)
            db.session.commit()
        for i in span:
            if batch.status[i] == "active":
                batch.owner[i], batch.status[i] = self.model.revoked_id, "revoked"
        escrows = {listing.escrow for listing in self.model.listings.values()}
        for holder in holders.keys() & escrows:
            self.model.revoked_from_escrow(holder, holders[holder])
            event("revoked units on offer")
        assert result["revoked_g"] == sum(holders.values())
        assert result["not_moved_g"] == not_moved
        assert len(result["transactions"]) == len(holders)

    @rule(holder=party_index, insist=st.booleans())
    def freeze_or_unfreeze(self, holder, insist):
        """Freeze an unfrozen account or unfreeze a frozen one; `insist`: first try the wrong one."""
        account_id = self.accounts[holder][0]
        frozen = account_id in self.model.frozen
        with self.app.app_context():
            if insist and frozen:
                self.expect_refusal("account_frozen", lambda: accounts.freeze(account_id, AUDITOR, "again"))
            elif insist:
                self.expect_refusal("account_not_frozen", lambda: accounts.unfreeze(account_id, AUDITOR, "not frozen"))
            (accounts.unfreeze if frozen else accounts.freeze)(account_id, AUDITOR, "model")
            db.session.commit()
        (self.model.frozen.discard if frozen else self.model.frozen.add)(account_id)

    # -- the pool and money ------------------------------------------------------------

    @rule(donor=resident_index, amount=st.integers(1, 150))
    def donate(self, donor, amount):
        account_id = self.accounts[donor][0]
        outcome = self.model.outcome_of_move(account_id, self.pool_id, amount)
        with self.app.app_context():
            call = lambda: donate(account_id, amount, self.key(f"user:{account_id}"), actor_id=None)  # noqa: E731
            if outcome != "ok":
                return self.expect_refusal(outcome, call)
            moved = call()
            db.session.commit()
        assert serials(moved.ranges) == self.model.take(account_id, self.pool_id, amount)

    @rule(receiver=st.sampled_from([MERCHANT, *ENTERPRISES]), amount=st.integers(1, 3_000), data=st.data())
    def deposit(self, receiver, amount, data):
        """An auditor records a bank receipt: a new reference, or one recorded before (its replay
        answers the first deposit and moves nothing; another body under it is refused)."""
        account_id = self.party(receiver)
        replayed = data.draw(st.sampled_from(sorted(self.model.deposits)) | st.none()) if self.model.deposits else None
        if replayed is not None and data.draw(st.booleans(), label="same body"):
            account_id, amount = self.model.deposits[replayed]
        self.record_deposit(account_id, amount, replayed)

    def record_deposit(self, account_id: int, amount: int, replayed: str | None):
        reference = replayed or f"BANK-M{len(self.model.deposits)}"
        with self.app.app_context():
            account = db.session.get(Account, account_id)
            call = lambda: money.deposit(account, amount, reference, actor_id=AUDITOR)  # noqa: E731
            if replayed is not None and self.model.deposits[replayed] != (account_id, amount):
                return self.expect_refusal("bank_reference_reused", call)
            if replayed is None and account_id in self.model.frozen:
                return self.expect_refusal("account_frozen", call)
            found, new = call()
            found_body = (found.account_id, found.amount_fen)
            db.session.commit()
        assert new == (replayed is None) and found_body == (account_id, amount)
        event("deposit replayed" if replayed else "deposit")
        if new:
            self.model.deposits[reference] = (account_id, amount)
            self.model.money[account_id] += amount
            self.model.money[self.model.bank_id] -= amount

    # -- the market --------------------------------------------------------------------

    @rule(seller=seller_index, quantity=st.integers(1, 200), within=st.booleans(), price=prices,
          expires=st.booleans(), data=st.data())
    def list_credits(self, seller, quantity, within, price, expires, data):
        """`within`: no more than the seller holds (else mostly refused: sellers hold a few hundred g)."""
        seller_id = self.party(seller)
        if within and self.model.balance(seller_id):
            quantity = min(quantity, self.model.balance(seller_id))
        min_lot = data.draw(st.integers(1, quantity + 10), label="min_lot")  # above the quantity: refused
        outcome = ("min_lot_above_quantity" if min_lot > quantity
                   else self.model.outcome_of_move(seller_id, None, quantity))
        with self.app.app_context():
            now = utcnow()
            call = lambda: listings.open_listing(  # noqa: E731
                seller_id, quantity, price, min_lot, now + timedelta(days=1) if expires else None,
                self.key(f"user:{seller_id}"), actor_id=None, now=now)
            if outcome != "ok":
                return self.expect_refusal(outcome, call)
            found = call()
            listing = ModelListing(found.id, seller_id, found.escrow_account_id, price, min_lot, quantity, expires)
            escrowed = serials(ranges_of(found.opened_in))
            db.session.commit()
        assert escrowed == self.model.take(seller_id, listing.escrow, quantity)
        self.model.listings[listing.id] = listing
        event("pool listed" if seller == POOL else "organization listed")

    @precondition(lambda self: self.model.listings)
    @rule(data=st.data(), as_seller=st.booleans())
    def cancel(self, data, as_seller):
        """Its seller cancels a listing (open or not); anyone else is told there is no such listing."""
        listing = data.draw(st.sampled_from(list(self.model.listings.values())))
        canceller = listing.seller if as_seller else next(
            self.party(i) for i in (MERCHANT, *ENTERPRISES, POOL) if self.party(i) != listing.seller)
        with self.app.app_context():
            call = lambda: listings.close(listing.id, "cancelled", self.key(f"user:{canceller}"),  # noqa: E731
                                          actor_id=None, now=utcnow(), seller_account_id=canceller)
            if canceller != listing.seller:
                return self.expect_refusal("listing_not_found", call)
            if listing.status != "open":
                return self.expect_refusal("listing_not_open", call)
            _, returned = call()
            db.session.commit()
        assert returned == listing.remaining
        self.model.take(listing.escrow, listing.seller, listing.remaining)
        listing.status = "cancelled"

    @precondition(lambda self: any(listing.expires for listing in self.model.open_listings()))
    @rule()
    def expire(self):
        """The sweep, run as if two days had passed: every open listing with an expiry closes."""
        due = [listing for listing in self.model.open_listings() if listing.expires]
        with self.app.app_context():
            assert listings.expire_due(utcnow() + timedelta(days=2)) == len(due)
            db.session.commit()
        for listing in due:
            self.model.take(listing.escrow, listing.seller, listing.remaining)
            listing.status = "expired"

    @rule(buyer=buyer_index, quantity=st.integers(1, 60) | st.integers(1, 400), max_price=prices,
          at_a_listed_price=st.booleans(), all_or_none=st.booleans(), retire=st.booleans(), data=st.data())
    def order(self, buyer, quantity, max_price, at_a_listed_price, all_or_none, retire, data):
        """`at_a_listed_price`: the limit is an open listing's price (else mostly nothing fills)."""
        buyer_id = self.party(buyer)
        if at_a_listed_price and self.model.open_listings():
            max_price = data.draw(st.sampled_from(sorted({listing.price for listing in self.model.open_listings()})),
                                  label="max_price")
        open_ids = [listing.id for listing in self.model.open_listings()]
        any_listing = st.sampled_from(sorted(self.model.listings)) if self.model.listings else st.none()
        named = data.draw(st.none() | st.sampled_from(open_ids or [None]) | any_listing, label="listing")
        fee_bp = self.app.config["MARKET_FEE_BP"]
        fills = self.model.fills(buyer_id, quantity, max_price, named, fee_bp)
        filled = sum(fill.quantity for fill in fills)
        due = sum(fill.amount + fill.fee for fill in fills)
        if named is not None and self.model.listings[named].seller == buyer_id:
            outcome = "self_trade"
        elif not fills or (all_or_none and filled < quantity):
            outcome = "no_fill"
        elif buyer_id in self.model.frozen:
            outcome = "account_frozen"
        else:
            outcome = "insufficient_funds" if self.model.money[buyer_id] < due else "ok"
        arguments = dict(listing_id=named, all_or_none=all_or_none, actor_id=None,
                         retire=orders.Retire("滨州绿色化工", "碳中和") if retire else None)
        key = self.key(f"user:{buyer_id}")
        with self.app.app_context():
            call = lambda: orders.place(buyer_id, quantity, max_price, key, **arguments)  # noqa: E731
            if outcome != "ok":
                return self.expect_refusal(outcome, call)
            placed, replayed = call()
            found = [(f.listing_id, f.quantity_g, f.price_fen_per_t, f.amount_fen, f.fee_fen)
                     for f in db.session.scalars(select(Fill).where(Fill.order_id == placed.id).order_by(Fill.id))]
            delivered = serials(ranges_of(placed.transaction_id))
            certified = db.session.scalar(select(Retirement.amount_g).where(
                Retirement.transaction_id == placed.transaction_id))
            db.session.commit()
        assert not replayed
        assert found == [(f.listing.id, f.quantity, f.listing.price, f.amount, f.fee) for f in fills]
        # The model's own arithmetic agrees with the platform's pure pricing functions.
        assert all(f.amount == pricing.cost_fen(f.quantity, f.listing.price) for f in fills)
        assert all(f.fee == pricing.fee_fen(f.amount, fee_bp) for f in fills)
        assert (placed.filled_g, placed.cost_fen, placed.fee_fen) == (
            filled, sum(f.amount for f in fills), sum(f.fee for f in fills))
        assert certified == (filled if retire else None)
        assert delivered == self.model.settle(buyer_id, fills, retire)
        self.last_order = (buyer_id, quantity, max_price, key, arguments, placed)
        event(f"order filled from {min(len(fills), 3)}{'+' if len(fills) > 2 else ''} listing(s)"
              + (" and retired" if retire else "") + (" in part" if filled < quantity else ""))

    @precondition(lambda self: self.last_order is not None)
    @rule()
    def replay_last_order(self):
        """The same key and request answers the first order, moving nothing; another request under
        the key is refused."""
        buyer_id, quantity, max_price, key, arguments, first = self.last_order
        with self.app.app_context():
            again, replayed = orders.place(buyer_id, quantity, max_price, key, **arguments)
            db.session.commit()
            assert replayed and again == first
            event("order replayed")
            changed = Idempotency(key.scope, key.key, key.request_hash + "-changed")
            self.expect_refusal("idempotency_key_reused", lambda: orders.place(
                buyer_id, quantity + 1, max_price, changed, **arguments))

    # -- after every step --------------------------------------------------------------

    @invariant()
    def database_matches_the_model(self):
        with self.app.app_context():
            found = balances()
            assert found == dict.fromkeys(found, 0) | self.model.credit_balances()
            assert database_runs() == self.model.runs()
            assert database_money() == self.model.money_balances()
            assert database_listings() == {listing.id: (listing.status, listing.remaining)
                                           for listing in self.model.listings.values()}
            frozen = select(Account.id).where(Account.frozen_at.is_not(None))
            assert set(db.session.scalars(frozen)) == self.model.frozen
            for index in (MERCHANT, *ENTERPRISES, POOL):
                account_id = self.party(index)
                assert {key: value for key, value in money.wallet(account_id).items() if key != "account_number"} == {
                    "credits_g": self.model.balance(account_id), "listed_g": self.model.listed_g(account_id),
                    "money_fen": self.model.money[account_id], "reserved_fen": 0}

    def teardown(self):
        """At the end of every example, every invariant holds (the audit log sealed first)."""
        with self.app.app_context():
            seal_audit_log()
            report = verify_registry()
            assert not failed(report), failed(report)
            assert len(report) == 11
            chain = chain_check(report)
            assert chain["unsealed"] == 0 and chain["sealed"] > 0


def test_registry_behaves_like_its_model(app, monkeypatch):
    monkeypatch.setitem(app.config, "MARKET_FEE_BP", FEE_BP)
    RegistryMachine.app = app
    with app.app_context():
        residents = open_accounts(RESIDENTS)
        merchant = accounts.open_holder_account("merchant", "滨城区")
        db.session.commit()
        firms = approved_enterprises(app, len(ENTERPRISES))
        numbers = dict(db.session.execute(select(Account.id, Account.number).where(Account.id.in_(firms))).all())
        RegistryMachine.accounts = residents + [(merchant.id, merchant.number)] + [(i, numbers[i]) for i in firms]
    run_state_machine_as_test(RegistryMachine, settings=MACHINE_SETTINGS)
