"""Per-resident daily tallies the caps are checked against, and patterns flagged for review."""
from datetime import date

from sqlalchemy import BigInteger, CheckConstraint, Date, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from config.db_types import BigId, UTCDateTime, utcnow
from config.extensions import db


class DailyTally(db.Model):
    """What one account was credited on one Asia/Shanghai day: the caps' memory."""

    __tablename__ = "daily_tallies"
    __table_args__ = (
        CheckConstraint("trip_g >= 0 AND walk_g >= 0 AND recycling_weight_g >= 0 AND capped_g >= 0",
                        name="not_negative"),
    )

    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    trip_g: Mapped[int] = mapped_column(BigInteger, default=0)
    walk_g: Mapped[int] = mapped_column(BigInteger, default=0)
    recycling_weight_g: Mapped[int] = mapped_column(BigInteger, default=0)
    capped_g: Mapped[int] = mapped_column(BigInteger, default=0)
    implausible_count: Mapped[int] = mapped_column(Integer, default=0)


class ReviewFlag(db.Model):
    """A suspicious pattern for an auditor to look at; nothing is dropped because of it."""

    __tablename__ = "review_flags"
    __table_args__ = (UniqueConstraint("account_id", "day", "code", name="uq_review_flags_account_day_code"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    day: Mapped[date] = mapped_column(Date)
    code: Mapped[str] = mapped_column(String(32))
    event_id: Mapped[int | None] = mapped_column(ForeignKey("green_events.id"))
    detail: Mapped[str] = mapped_column(String(200))
    created_at = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    resolved_at = mapped_column(UTCDateTime, nullable=True)
    resolved_by: Mapped[int | None] = mapped_column(Integer)
