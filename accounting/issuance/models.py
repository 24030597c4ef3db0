"""签发: issuance batches and what each account receives from one."""
from datetime import date

from sqlalchemy import BigInteger, Boolean, CheckConstraint, Date, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from config.db_types import UTCDateTime, utcnow
from config.extensions import db

BATCH_STATUSES = ("proposed", "approved", "issued", "rejected")


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
