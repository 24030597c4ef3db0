"""The registry (登记): issuance batches, serial blocks, a double-entry journal, retirements."""
from datetime import date

from sqlalchemy import (
    BigInteger, Boolean, CheckConstraint, Date, ForeignKey, Index, Integer, String, UniqueConstraint, text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from config.db_types import BigId, UTCDateTime, utcnow
from config.extensions import db

BATCH_STATUSES = ("proposed", "approved", "issued", "rejected")
BLOCK_STATUSES = ("active", "split", "retired", "revoked")
TRANSACTION_KINDS = ("issue", "transfer", "claim", "release", "redeem", "retire", "revoke")


class IssuanceBatch(db.Model):
    """签发: one day's verified reductions under one methodology version, per account."""

    __tablename__ = "issuance_batches"
    __table_args__ = (
        UniqueConstraint("methodology_version_id", "vintage", "batch_no", name="uq_issuance_batches_number"),
        CheckConstraint(f"status IN {BATCH_STATUSES}", name="status"),
        # Proposed batches are filled in after their row exists; nothing empty is ever approved.
        CheckConstraint("status = 'proposed' OR quantity_g > 0", name="quantity_positive"),
        CheckConstraint("status NOT IN ('approved', 'issued') OR approved_at IS NOT NULL", name="approval_recorded"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    methodology_version_id: Mapped[int] = mapped_column(ForeignKey("methodology_versions.id"))
    vintage: Mapped[date] = mapped_column(Date)
    batch_no: Mapped[int] = mapped_column(Integer)
    serial_prefix: Mapped[str] = mapped_column(String(40), unique=True)
    status: Mapped[str] = mapped_column(String(10), default="proposed")
    quantity_g: Mapped[int] = mapped_column(BigInteger)
    capped_g: Mapped[int] = mapped_column(BigInteger, default=0)
    accounts_count: Mapped[int] = mapped_column(Integer)
    events_count: Mapped[int] = mapped_column(Integer)
    proposed_at = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    proposed_by: Mapped[int | None] = mapped_column(Integer)  # None: the scheduler
    approved_at = mapped_column(UTCDateTime, nullable=True)
    approved_by: Mapped[int | None] = mapped_column(Integer)
    auto_approved: Mapped[bool] = mapped_column(Boolean, default=False)
    decision_note: Mapped[str | None] = mapped_column(String(200))
    issued_at = mapped_column(UTCDateTime, nullable=True)
    transaction_id: Mapped[int | None] = mapped_column(ForeignKey("journal_transactions.id"))


class BatchLine(db.Model):
    """What one account receives from a batch; fixed when the batch is proposed."""

    __tablename__ = "batch_lines"
    __table_args__ = (CheckConstraint("quantity_g > 0", name="quantity_positive"),)

    batch_id: Mapped[int] = mapped_column(ForeignKey("issuance_batches.id"), primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), primary_key=True)
    quantity_g: Mapped[int] = mapped_column(BigInteger)


class JournalTransaction(db.Model):
    """One movement; its entries sum to zero (invariant 1). Every one carries an idempotency key."""

    __tablename__ = "journal_transactions"
    __table_args__ = (
        UniqueConstraint("idempotency_scope", "idempotency_key", name="uq_journal_transactions_idempotency"),
        CheckConstraint(f"kind IN {TRANSACTION_KINDS}", name="kind"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    kind: Mapped[str] = mapped_column(String(10))
    idempotency_scope: Mapped[str] = mapped_column(String(64))
    idempotency_key: Mapped[str] = mapped_column(String(160))
    request_hash: Mapped[str] = mapped_column(String(64))
    actor_id: Mapped[int | None] = mapped_column(Integer)
    memo: Mapped[str | None] = mapped_column(String(200))
    created_at = mapped_column(UTCDateTime, nullable=False, default=utcnow)

    entries: Mapped[list["JournalEntry"]] = relationship(back_populates="transaction")


class JournalEntry(db.Model):
    __tablename__ = "journal_entries"
    __table_args__ = (
        CheckConstraint("amount_g <> 0", name="amount_not_zero"),
        Index("ix_journal_entries_account_id_transaction_id", "account_id", "transaction_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    transaction_id: Mapped[int] = mapped_column(ForeignKey("journal_transactions.id"), index=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    amount_g: Mapped[int] = mapped_column(BigInteger)

    transaction: Mapped[JournalTransaction] = relationship(back_populates="entries")


class CreditBlock(db.Model):
    """A range of serial numbers held by one account; moving part of it splits it.

    Blocks that are not `split` never overlap within a batch (a GiST exclusion
    constraint on PostgreSQL) and together cover the batch exactly (invariant 4).
    """

    __tablename__ = "credit_blocks"
    __table_args__ = (
        CheckConstraint("first_serial >= 1 AND last_serial >= first_serial", name="range"),
        CheckConstraint(f"status IN {BLOCK_STATUSES}", name="status"),
        # A holder's active blocks, oldest first: where every movement takes its units from.
        Index("ix_credit_blocks_active_by_account", "account_id", "batch_id", "first_serial",
              postgresql_where=text("status = 'active'"), sqlite_where=text("status = 'active'")),
        Index("ix_credit_blocks_batch_id_first_serial", "batch_id", "first_serial"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("issuance_batches.id"))
    first_serial: Mapped[int] = mapped_column(BigInteger)
    last_serial: Mapped[int] = mapped_column(BigInteger)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    status: Mapped[str] = mapped_column(String(8), default="active")
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("credit_blocks.id"))
    created_in: Mapped[int] = mapped_column(ForeignKey("journal_transactions.id"))


class BlockMovement(db.Model):
    """Which block went from whom to whom in a transaction: the units' holder history."""

    __tablename__ = "block_movements"

    transaction_id: Mapped[int] = mapped_column(ForeignKey("journal_transactions.id"), primary_key=True)
    block_id: Mapped[int] = mapped_column(ForeignKey("credit_blocks.id"), primary_key=True, index=True)
    from_account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"))
    to_account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))


class Retirement(db.Model):
    """注销: units retired for a named beneficiary and purpose; listed publicly by number."""

    __tablename__ = "retirements"
    __table_args__ = (CheckConstraint("amount_g > 0", name="amount_positive"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    number: Mapped[str] = mapped_column(String(24), unique=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    amount_g: Mapped[int] = mapped_column(BigInteger)
    beneficiary: Mapped[str] = mapped_column(String(100))
    purpose: Mapped[str] = mapped_column(String(200))
    transaction_id: Mapped[int] = mapped_column(ForeignKey("journal_transactions.id"), unique=True)
    created_at = mapped_column(UTCDateTime, nullable=False, default=utcnow)
