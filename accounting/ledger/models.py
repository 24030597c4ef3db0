"""The registry's own tables (登记): holders and accounts, the double-entry journal, serial
blocks and their movements, retirements, and the audit log.

Blocks name their batch (`issuance_batches`, filed by accounting.issuance) by id only: the
ledger moves serial ranges and never needs to know how a batch came to be.
"""
from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
    func,
    literal,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column, relationship

from config.db_types import UTCDateTime, utcnow
from config.extensions import db

HOLDER_KINDS = ("resident", "merchant", "enterprise", "bureau")
# `bank` and `fees` hold money only (MARKET.md); a `market` account holds one listing's or auction's credits.
ACCOUNT_KINDS = ("holder", "issuance", "escrow", "retirement", "revocation", "pool", "bank", "fees", "market")
BLOCK_STATUSES = ("active", "split", "retired", "revoked")
TRANSACTION_KINDS = ("issue", "transfer", "claim", "release", "redeem", "retire", "revoke", "donate",
                     "list", "delist", "trade", "auction", "clear", "deposit", "withdraw")


class Holder(db.Model):
    """A resident, merchant, enterprise or the bureau: whoever can hold credits."""

    __tablename__ = "holders"
    __table_args__ = (CheckConstraint(f"kind IN {HOLDER_KINDS}", name="kind"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    district: Mapped[str | None] = mapped_column(String(32))
    created_at = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    # PIPL: a closed holder's rows stay for the ledger, pseudonymized.
    closed_at = mapped_column(UTCDateTime, nullable=True)

    account: Mapped["Account"] = relationship(back_populates="holder", uselist=False)


class Account(db.Model):
    """A registry account; its public number is what residents show to data sources."""

    __tablename__ = "accounts"
    __table_args__ = (
        CheckConstraint(f"kind IN {ACCOUNT_KINDS}", name="kind"),
        # Invariant 2: no balance below zero but the issuance account's, whose debit is all ever issued.
        CheckConstraint("kind = 'issuance' OR balance_g >= 0", name="balance_not_negative"),
        CheckConstraint("kind <> 'holder' OR holder_id IS NOT NULL", name="holder_account_has_holder"),
        # Invariant 9: no money below zero but the bank's (money that came in from real bank
        # accounts, so its balance is minus all the money in the market); bids' reservations
        # never exceed the money they hold.
        CheckConstraint("kind = 'bank' OR money_fen >= 0", name="money_not_negative"),
        CheckConstraint("reserved_fen >= 0 AND (kind = 'bank' OR reserved_fen <= money_fen)", name="reserved_covered"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    number: Mapped[str] = mapped_column(String(12), unique=True)
    kind: Mapped[str] = mapped_column(String(12), default="holder")
    holder_id: Mapped[int | None] = mapped_column(ForeignKey("holders.id"), unique=True)
    balance_g: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    created_at = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    frozen_at = mapped_column(UTCDateTime, nullable=True)
    # The market's money account beside the credits (fen), and what open bids hold of it.
    money_fen: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    reserved_fen: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")

    holder: Mapped[Holder | None] = relationship(back_populates="account")


class JournalTransaction(db.Model):
    """One movement; its entries sum to zero (invariant 1). Every one carries an idempotency key."""

    __tablename__ = "journal_transactions"
    __table_args__ = (
        UniqueConstraint("idempotency_scope", "idempotency_key", name="uq_journal_transactions_idempotency"),
        CheckConstraint(f"kind IN {TRANSACTION_KINDS}", name="kind"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
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

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    transaction_id: Mapped[int] = mapped_column(ForeignKey("journal_transactions.id"), index=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    amount_g: Mapped[int] = mapped_column(BigInteger)

    transaction: Mapped[JournalTransaction] = relationship(back_populates="entries")


class CreditBlock(db.Model):
    """A range of serial numbers held by one account. Moving its front cuts it in place (the
    block keeps the rest, its first serial moved up; the moved part is a block of its own, its
    parent this one); moving a part from inside it splits it (it becomes `split`, history, and
    its parts blocks of their own). `parent_id` leads from a part to the block it came from.

    Blocks that are not `split` never overlap within a batch (a GiST exclusion constraint) and
    together cover the batch exactly (invariant 4). That constraint's index is also how a block is
    found by serial (`BLOCK_SERIALS`): no second index to maintain on every cut.
    """

    __tablename__ = "credit_blocks"
    __table_args__ = (
        CheckConstraint("first_serial >= 1 AND last_serial >= first_serial", name="range"),
        CheckConstraint(f"status IN {BLOCK_STATUSES}", name="status"),
        # A holder's active blocks, oldest first: where every movement takes its units from.
        Index("ix_credit_blocks_active_by_account", "account_id", "batch_id", "first_serial",
              postgresql_where=text("status = 'active'")),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("issuance_batches.id"))
    first_serial: Mapped[int] = mapped_column(BigInteger)
    last_serial: Mapped[int] = mapped_column(BigInteger)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    status: Mapped[str] = mapped_column(String(8), default="active")
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("credit_blocks.id"))
    created_in: Mapped[int] = mapped_column(ForeignKey("journal_transactions.id"))


class BlockMovement(db.Model):
    """Which units (a block's, first..last) went from whom to whom in a transaction: the units'
    holder history. The range is the movement's own: a block's front may be cut away later."""

    __tablename__ = "block_movements"
    __table_args__ = (CheckConstraint("first_serial >= 1 AND last_serial >= first_serial", name="range"),)

    transaction_id: Mapped[int] = mapped_column(ForeignKey("journal_transactions.id"), primary_key=True)
    block_id: Mapped[int] = mapped_column(ForeignKey("credit_blocks.id"), primary_key=True, index=True)
    from_account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"))
    to_account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    first_serial: Mapped[int] = mapped_column(BigInteger)
    last_serial: Mapped[int] = mapped_column(BigInteger)


class Retirement(db.Model):
    """注销: units retired for a named beneficiary and purpose; listed publicly by number."""

    __tablename__ = "retirements"
    __table_args__ = (CheckConstraint("amount_g > 0", name="amount_positive"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    number: Mapped[str] = mapped_column(String(24), unique=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    amount_g: Mapped[int] = mapped_column(BigInteger)
    beneficiary: Mapped[str] = mapped_column(String(100))
    purpose: Mapped[str] = mapped_column(String(200))
    transaction_id: Mapped[int] = mapped_column(ForeignKey("journal_transactions.id"), unique=True)
    created_at = mapped_column(UTCDateTime, nullable=False, default=utcnow)


class AuditRecord(db.Model):
    """The audit log: appended inside each registry transaction, hash-chained afterwards.

    Writers only INSERT (no lock, no hash); a sealing task takes the unsealed records in id
    order, gives each the next `seq` and hash = SHA-256(previous hash + the record), so the
    hot path never waits on one chain head and the unsealed gap is visible (seq IS NULL).
    Every record is appended by the database function `ledger_audit`, which digests the payload
    (SHA-256 of its jsonb text), so Python and the ledger's own functions digest it the same way.
    """

    __tablename__ = "audit_records"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(48))
    subject: Mapped[str] = mapped_column(String(120))
    payload: Mapped[dict] = mapped_column(JSONB)
    payload_digest: Mapped[str] = mapped_column(String(64))
    created_at = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    seq: Mapped[int | None] = mapped_column(BigInteger, unique=True)
    prev_hash: Mapped[str | None] = mapped_column(String(64))
    hash: Mapped[str | None] = mapped_column(String(64))
    sealed_at = mapped_column(UTCDateTime, nullable=True)


# A block's serials as the exclusion constraint indexes them: `@>` a serial, or `&&` a range, with
# `batch_id =` and `status <> 'split'`, is answered by its GiST index.
BLOCK_SERIALS = func.int8range(CreditBlock.first_serial, CreditBlock.last_serial, literal("[]"))


VERIFICATION_METHODS = ("cli", "api", "console", "beat")


class RegistryVerification(db.Model):
    """One run of `registry verify` (CLI, API, console or the daily beat task): when, its result,
    which invariants failed. Append-only for the app role; the public page shows the latest."""

    __tablename__ = "registry_verifications"
    __table_args__ = (CheckConstraint(f"method IN {VERIFICATION_METHODS}", name="method"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    verified_at = mapped_column(UTCDateTime, nullable=False, default=utcnow, index=True)
    ok: Mapped[bool] = mapped_column(Boolean)
    failed: Mapped[list] = mapped_column(JSONB, default=list)  # the invariants' names, as the report says them
    method: Mapped[str] = mapped_column(String(8))
    actor_id: Mapped[int | None] = mapped_column(Integer)  # the staff user (API, console); None: CLI, beat
    chain_seq: Mapped[int | None] = mapped_column(BigInteger)  # the audit chain's last sealed seq when checked
