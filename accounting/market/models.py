"""The market's tables (MARKET.md): enterprises, money movements, listings, orders and their
fills, auctions and their bids, deposits and withdrawals.

Credits stay in the registry's blocks and journal; money beside them in `money_entries` (fen),
posted in the same journal transactions, so an order's credits and money move together or not
at all. A listing or an auction holds what it offers in an account of its own (kind `market`):
orders on different listings never queue on one escrow row.
"""
from sqlalchemy import BigInteger, Boolean, CheckConstraint, ForeignKey, Index, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column

from config.db_types import UTCDateTime, utcnow
from config.extensions import db

ENTERPRISE_STATUSES = ("pending", "approved", "rejected")
LISTING_STATUSES = ("open", "filled", "cancelled", "expired")
WITHDRAWAL_STATUSES = ("pending", "paid")
# Prices in fen per tonne: 1 fen/t to 1,000,000 元/t; quantities up to 10^12 g (a million tonnes).
MAX_PRICE_FEN_PER_T = 100_000_000
MAX_QUANTITY_G = 10**12
MAX_AMOUNT_FEN = 10**13


class Enterprise(db.Model):
    """企业: applies with its 统一社会信用代码; on approval it gets a holder and an account."""

    __tablename__ = "enterprises"
    __table_args__ = (
        CheckConstraint(f"status IN {ENTERPRISE_STATUSES}", name="status"),
        CheckConstraint("status <> 'approved' OR account_id IS NOT NULL", name="approved_has_account"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    credit_code: Mapped[str] = mapped_column(String(18), unique=True)
    district: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(10), default="pending")
    holder_id: Mapped[int | None] = mapped_column(ForeignKey("holders.id"))
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"), unique=True)
    applied_by: Mapped[int | None] = mapped_column(Integer)
    decided_by: Mapped[int | None] = mapped_column(Integer)
    decided_at = mapped_column(UTCDateTime, nullable=True)
    decision_note: Mapped[str | None] = mapped_column(String(200))
    created_at = mapped_column(UTCDateTime, nullable=False, default=utcnow)


class MoneyEntry(db.Model):
    """One side of a money movement (fen); a transaction's money entries sum to zero (invariant 9)."""

    __tablename__ = "money_entries"
    __table_args__ = (
        CheckConstraint("amount_fen <> 0", name="amount_not_zero"),
        Index("ix_money_entries_account_id_transaction_id", "account_id", "transaction_id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    transaction_id: Mapped[int] = mapped_column(ForeignKey("journal_transactions.id"), index=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    amount_fen: Mapped[int] = mapped_column(BigInteger)


class Listing(db.Model):
    """挂牌: credits offered at a price, held in the listing's own escrow until sold or returned."""

    __tablename__ = "market_listings"
    __table_args__ = (
        CheckConstraint(f"status IN {LISTING_STATUSES}", name="status"),
        CheckConstraint("quantity_g > 0 AND remaining_g >= 0 AND remaining_g <= quantity_g", name="remaining"),
        CheckConstraint(f"price_fen_per_t BETWEEN 1 AND {MAX_PRICE_FEN_PER_T}", name="price"),
        CheckConstraint("min_lot_g BETWEEN 1 AND quantity_g", name="min_lot"),
        CheckConstraint("status <> 'open' OR remaining_g > 0", name="open_has_remainder"),
        CheckConstraint("status <> 'filled' OR remaining_g = 0", name="filled_is_empty"),
        # Where orders look: open listings, cheapest then oldest (and the order rows are locked in).
        Index("ix_market_listings_open_by_price", "price_fen_per_t", "id", postgresql_where=text("status = 'open'")),
        Index("ix_market_listings_seller_account_id", "seller_account_id", "status"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    seller_account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    escrow_account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), unique=True)
    quantity_g: Mapped[int] = mapped_column(BigInteger)
    remaining_g: Mapped[int] = mapped_column(BigInteger)
    price_fen_per_t: Mapped[int] = mapped_column(BigInteger)
    min_lot_g: Mapped[int] = mapped_column(BigInteger, default=1)
    expires_at = mapped_column(UTCDateTime, nullable=True)
    status: Mapped[str] = mapped_column(String(10), default="open")
    # The movement that put the credits in escrow (a replayed request finds its listing by it).
    opened_in: Mapped[int] = mapped_column(ForeignKey("journal_transactions.id"), unique=True)
    created_by: Mapped[int | None] = mapped_column(Integer)
    created_at = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    closed_at = mapped_column(UTCDateTime, nullable=True)


class Order(db.Model):
    """An enterprise's order, filled in one transaction (delivery versus payment)."""

    __tablename__ = "market_orders"
    __table_args__ = (
        CheckConstraint("quantity_g > 0 AND filled_g > 0 AND filled_g <= quantity_g", name="filled"),
        CheckConstraint(f"max_price_fen_per_t BETWEEN 1 AND {MAX_PRICE_FEN_PER_T}", name="max_price"),
        CheckConstraint("cost_fen >= 0 AND fee_fen >= 0", name="money"),
        CheckConstraint("NOT all_or_none OR filled_g = quantity_g", name="all_or_none_filled"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    buyer_account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    quantity_g: Mapped[int] = mapped_column(BigInteger)
    max_price_fen_per_t: Mapped[int] = mapped_column(BigInteger)
    listing_id: Mapped[int | None] = mapped_column(ForeignKey("market_listings.id"))
    all_or_none: Mapped[bool] = mapped_column(Boolean, default=False)
    filled_g: Mapped[int] = mapped_column(BigInteger)
    cost_fen: Mapped[int] = mapped_column(BigInteger)
    fee_fen: Mapped[int] = mapped_column(BigInteger)
    transaction_id: Mapped[int] = mapped_column(ForeignKey("journal_transactions.id"), unique=True)
    # Retired on purchase: the credits went straight to retirement, certified by the retirement
    # that shares the order's transaction.
    retired: Mapped[bool] = mapped_column(Boolean, default=False)
    created_by: Mapped[int | None] = mapped_column(Integer)
    created_at = mapped_column(UTCDateTime, nullable=False, default=utcnow)


class Fill(db.Model):
    """One listing's part of an order: its credits and its money moved in the order's transaction."""

    __tablename__ = "market_fills"
    __table_args__ = (
        CheckConstraint("quantity_g > 0 AND amount_fen > 0 AND fee_fen >= 0", name="positive"),
        Index("ix_market_fills_listing_id", "listing_id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("market_orders.id"), index=True)
    listing_id: Mapped[int] = mapped_column(ForeignKey("market_listings.id"))
    quantity_g: Mapped[int] = mapped_column(BigInteger)
    price_fen_per_t: Mapped[int] = mapped_column(BigInteger)
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    fee_fen: Mapped[int] = mapped_column(BigInteger)
    created_at = mapped_column(UTCDateTime, nullable=False, default=utcnow, index=True)


class Auction(db.Model):
    """单向竞价: the pool's credits offered to sealed bids, cleared at one price after the close."""

    __tablename__ = "market_auctions"
    __table_args__ = (
        # Zero only once revocations took every unit it offered (created with more, by the service).
        CheckConstraint("quantity_g >= 0", name="quantity"),
        CheckConstraint(f"reserve_price_fen_per_t BETWEEN 1 AND {MAX_PRICE_FEN_PER_T}", name="reserve_price"),
        CheckConstraint("closes_at > opens_at", name="window"),
        # Cleared with nothing to move (every unit revoked) has no transaction.
        CheckConstraint("clear_transaction_id IS NULL OR cleared_at IS NOT NULL", name="cleared"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    seller_account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    escrow_account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), unique=True)
    quantity_g: Mapped[int] = mapped_column(BigInteger)
    reserve_price_fen_per_t: Mapped[int] = mapped_column(BigInteger)
    opens_at = mapped_column(UTCDateTime, nullable=False)
    closes_at = mapped_column(UTCDateTime, nullable=False, index=True)
    clearing_price_fen_per_t: Mapped[int | None] = mapped_column(BigInteger)
    sold_g: Mapped[int | None] = mapped_column(BigInteger)
    cleared_at = mapped_column(UTCDateTime, nullable=True)
    clear_transaction_id: Mapped[int | None] = mapped_column(ForeignKey("journal_transactions.id"))
    opened_in: Mapped[int] = mapped_column(ForeignKey("journal_transactions.id"), unique=True)
    created_by: Mapped[int | None] = mapped_column(Integer)
    created_at = mapped_column(UTCDateTime, nullable=False, default=utcnow)


class Bid(db.Model):
    """A sealed bid; it holds `reserved_fen` of its bidder's money until the auction clears."""

    __tablename__ = "market_bids"
    __table_args__ = (
        CheckConstraint("quantity_g > 0 AND price_fen_per_t > 0 AND reserved_fen >= 0", name="positive"),
        CheckConstraint("allocated_g IS NULL OR (allocated_g BETWEEN 0 AND quantity_g "
                        "AND amount_fen + fee_fen + released_fen = reserved_fen)", name="settled"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    auction_id: Mapped[int] = mapped_column(ForeignKey("market_auctions.id"), index=True)
    bidder_account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    quantity_g: Mapped[int] = mapped_column(BigInteger)
    price_fen_per_t: Mapped[int] = mapped_column(BigInteger)
    reserved_fen: Mapped[int] = mapped_column(BigInteger)
    # Set when the auction clears (losers: 0 g, all released).
    allocated_g: Mapped[int | None] = mapped_column(BigInteger)
    amount_fen: Mapped[int | None] = mapped_column(BigInteger)
    fee_fen: Mapped[int | None] = mapped_column(BigInteger)
    released_fen: Mapped[int | None] = mapped_column(BigInteger)
    created_by: Mapped[int | None] = mapped_column(Integer)
    created_at = mapped_column(UTCDateTime, nullable=False, default=utcnow)


class Deposit(db.Model):
    """Money that came in from a bank account, recorded by an auditor once per bank reference."""

    __tablename__ = "market_deposits"
    __table_args__ = (CheckConstraint("amount_fen > 0", name="amount_positive"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    bank_reference: Mapped[str] = mapped_column(String(64), unique=True)
    transaction_id: Mapped[int] = mapped_column(ForeignKey("journal_transactions.id"), unique=True)
    recorded_by: Mapped[int | None] = mapped_column(Integer)
    created_at = mapped_column(UTCDateTime, nullable=False, default=utcnow)


class Withdrawal(db.Model):
    """Money an organization asked to have paid out to its bank account; an auditor pays it."""

    __tablename__ = "market_withdrawals"
    __table_args__ = (
        CheckConstraint("amount_fen > 0", name="amount_positive"),
        CheckConstraint(f"status IN {WITHDRAWAL_STATUSES}", name="status"),
        CheckConstraint("(status = 'paid') = (transaction_id IS NOT NULL)", name="paid_has_transaction"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(8), default="pending")
    asked_by: Mapped[int | None] = mapped_column(Integer)
    paid_by: Mapped[int | None] = mapped_column(Integer)
    paid_at = mapped_column(UTCDateTime, nullable=True)
    bank_reference: Mapped[str | None] = mapped_column(String(64))
    transaction_id: Mapped[int | None] = mapped_column(ForeignKey("journal_transactions.id"), unique=True)
    created_at = mapped_column(UTCDateTime, nullable=False, default=utcnow)
