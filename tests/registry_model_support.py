"""The in-memory model of both ledgers for the registry's state machine (test_registry_model.py):
credits serial by serial, money in fen, and the market's listings.

Nothing here calls the code under test to decide anything: the fills an order gets, what they
cost and the fee are derived again from MARKET.md (cheapest then oldest, min lots, ceil for the
cost, floor for the fee), and the serials each movement carries from the ledger's rule (a
sender's oldest units first, by batch then serial). The helpers at the end read the database
in the same shapes, for the machine to compare after every step.
"""
from collections import defaultdict
from dataclasses import dataclass

from sqlalchemy import select

from accounting.ledger.models import Account, CreditBlock
from accounting.market.models import Listing
from config.extensions import db

GRAMS_PER_TONNE = 1_000_000
BASIS_POINTS = 10_000


def model_cost_fen(quantity_g: int, price_fen_per_t: int) -> int:
    """MARKET.md: a fill of q grams at p fen/t costs ceil(q × p / 1,000,000) fen (integers only)."""
    return (quantity_g * price_fen_per_t + GRAMS_PER_TONNE - 1) // GRAMS_PER_TONNE


def model_fee_fen(cost: int, fee_bp: int) -> int:
    """MARKET.md: the buyer's fee is floor(cost × MARKET_FEE_BP / 10,000) fen, per fill."""
    return cost * fee_bp // BASIS_POINTS


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


@dataclass
class ModelListing:
    id: int
    seller: int
    escrow: int
    price: int
    min_lot: int
    remaining: int
    expires: bool  # it has an expires_at (a day ahead): the `expire` rule's sweep closes it
    status: str = "open"


@dataclass(frozen=True)
class ModelFill:
    listing: ModelListing
    quantity: int
    amount: int
    fee: int


class Ledgers:
    """Credits (every serial of every batch), money (fen per account) and the open book."""

    def __init__(self, issuance_id: int, retired_id: int, revoked_id: int, bank_id: int, fees_id: int):
        self.issuance_id, self.retired_id, self.revoked_id = issuance_id, retired_id, revoked_id
        self.bank_id, self.fees_id = bank_id, fees_id
        self.batches: list[Batch] = []
        self.frozen: set[int] = set()
        self.money: dict[int, int] = defaultdict(int)
        self.listings: dict[int, ModelListing] = {}
        self.deposits: dict[str, tuple[int, int]] = {}  # bank reference → (account, fen)

    # -- credits ------------------------------------------------------------------------

    def active_units(self, account_id: int):
        """The account's active units, oldest first: (batch, serial index)."""
        for batch in self.batches:
            for index, (owner, status) in enumerate(zip(batch.owner, batch.status)):
                if owner == account_id and status == "active":
                    yield batch, index

    def balance(self, account_id: int) -> int:
        return sum(1 for _ in self.active_units(account_id))

    def take(self, from_id: int, to_id: int, amount: int, status: str = "active") -> set:
        taken = set()
        for batch, index in list(self.active_units(from_id))[:amount]:
            batch.owner[index], batch.status[index] = to_id, status
            taken.add((batch.prefix, index + 1))
        assert len(taken) == amount
        return taken

    def outcome_of_move(self, from_id: int, to_id: int | None, amount: int) -> str:
        if from_id in self.frozen or to_id in self.frozen:
            return "account_frozen"
        return "insufficient_balance" if self.balance(from_id) < amount else "ok"

    def credit_balances(self) -> dict[int, int]:
        """Every account the model knows of (the database's others must be at 0)."""
        expected = defaultdict(int)
        for batch in self.batches:
            for owner, status in zip(batch.owner, batch.status):
                if status == "active":
                    expected[owner] += 1
        expected[self.issuance_id] = -sum(b.quantity for b in self.batches)
        for system_id, status in ((self.retired_id, "retired"), (self.revoked_id, "revoked")):
            expected[system_id] = sum(s == status for b in self.batches for s in b.status)
        return dict(expected)

    def runs(self) -> list[tuple]:
        """The holdings as maximal runs: (batch id, first, last, holder, status)."""
        runs = []
        for batch in self.batches:
            for index, unit in enumerate(zip(batch.owner, batch.status), start=1):
                if runs and runs[-1][0] == batch.id and runs[-1][3:] == unit:
                    runs[-1] = runs[-1][:2] + (index,) + unit
                else:
                    runs.append((batch.id, index, index) + unit)
        return runs

    # -- the market ---------------------------------------------------------------------

    def open_listings(self) -> list[ModelListing]:
        return [listing for listing in self.listings.values() if listing.status == "open"]

    def listed_g(self, seller: int) -> int:
        return sum(listing.remaining for listing in self.open_listings() if listing.seller == seller)

    def fills(self, buyer: int, quantity: int, max_price: int, listing_id: int | None, fee_bp: int) -> list[ModelFill]:
        """What an order would fill: open listings at or below its price (only the named one, if
        any; never the buyer's own, nor a frozen seller's), cheapest then oldest; each fill takes
        at least the listing's min lot or its whole remainder, else the listing is passed over."""
        candidates = sorted((listing for listing in self.open_listings()
                             if listing.price <= max_price and listing.seller not in self.frozen
                             and (listing.id == listing_id if listing_id is not None else listing.seller != buyer)),
                            key=lambda listing: (listing.price, listing.id))
        fills, filled = [], 0
        for listing in candidates:
            q = min(quantity - filled, listing.remaining)
            if q < listing.min_lot and q < listing.remaining:
                continue
            amount = model_cost_fen(q, listing.price)
            fills.append(ModelFill(listing, q, amount, model_fee_fen(amount, fee_bp)))
            filled += q
            if filled == quantity:
                break
        return fills

    def settle(self, buyer: int, fills: list[ModelFill], retire: bool) -> set:
        """Delivery versus payment: each fill's units escrow → buyer (or retired), its money buyer →
        seller, the fees buyer → fees. Answers the serials delivered."""
        delivered = set()
        for fill in fills:
            listing = fill.listing
            delivered |= self.take(listing.escrow, self.retired_id if retire else buyer, fill.quantity,
                                   "retired" if retire else "active")
            listing.remaining -= fill.quantity
            listing.status = "filled" if listing.remaining == 0 else "open"
            self.money[buyer] -= fill.amount + fill.fee
            self.money[listing.seller] += fill.amount
            self.money[self.fees_id] += fill.fee
        return delivered

    def revoked_from_escrow(self, escrow: int, grams: int) -> None:
        """Units revoked out of a listing's escrow no longer stand on offer: its remainder shrinks,
        and a listing left with nothing closes as cancelled."""
        [listing] = [found for found in self.listings.values() if found.escrow == escrow]
        assert listing.status == "open"
        listing.remaining -= grams
        if listing.remaining == 0:
            listing.status = "cancelled"

    def money_balances(self) -> dict[int, tuple[int, int]]:
        """(free money, reserved) per account with money; nothing is ever reserved here (no auctions)."""
        return {account_id: (fen, 0) for account_id, fen in self.money.items() if fen}


# -- the database in the model's shapes ----------------------------------------------------

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


def database_money() -> dict[int, tuple[int, int]]:
    """(free money, reserved) of every account holding or reserving any."""
    rows = db.session.execute(select(Account.id, Account.money_fen, Account.reserved_fen)
                              .where((Account.money_fen != 0) | (Account.reserved_fen != 0)))
    return {account_id: (money - reserved, reserved) for account_id, money, reserved in rows}


def database_listings() -> dict[int, tuple[str, int]]:
    return {row.id: (row.status, row.remaining_g)
            for row in db.session.execute(select(Listing.id, Listing.status, Listing.remaining_g))}


def serials(ranges) -> set:
    return {(r.serial_prefix, s) for r in ranges for s in range(r.first, r.last + 1)}
