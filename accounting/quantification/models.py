"""Filed methodologies (备案) and their versions (approved versions never change), the per-resident
daily tallies the caps are checked against, and patterns flagged for review."""
import re
from datetime import date

from sqlalchemy import JSON, BigInteger, CheckConstraint, Date, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from config.db_types import UTCDateTime, utcnow
from config.extensions import db

VERSION_STATUSES = ("draft", "filed", "approved", "retired")


class Methodology(db.Model):
    """A way of quantifying one kind of green action (trips, recycling)."""

    __tablename__ = "methodologies"
    __table_args__ = (CheckConstraint("kind IN ('trip', 'recycling')", name="kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(16), unique=True)
    kind: Mapped[str] = mapped_column(String(10))
    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str | None] = mapped_column(Text)
    created_at = mapped_column(UTCDateTime, nullable=False, default=utcnow)

    versions: Mapped[list["MethodologyVersion"]] = relationship(
        back_populates="methodology", order_by="MethodologyVersion.version"
    )


class MethodologyVersion(db.Model):
    """Factors, caps and limits in force from `effective_from` once approved.

    The version in force at a moment is the approved one with the latest
    effective_from not after it (and effective_to, if set, after it).
    """

    __tablename__ = "methodology_versions"
    __table_args__ = (
        UniqueConstraint("methodology_id", "version", name="uq_methodology_versions_number"),
        CheckConstraint(f"status IN {VERSION_STATUSES}", name="status"),
        CheckConstraint("effective_to IS NULL OR effective_to > effective_from", name="effective_range"),
        CheckConstraint("status <> 'approved' OR approved_at IS NOT NULL", name="approval_recorded"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    methodology_id: Mapped[int] = mapped_column(ForeignKey("methodologies.id"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(10), default="draft")
    parameters: Mapped[dict] = mapped_column(JSON)
    sources: Mapped[dict] = mapped_column(JSON)
    effective_from = mapped_column(UTCDateTime, nullable=False)
    effective_to = mapped_column(UTCDateTime, nullable=True)
    # Actors are user ids from the sign-in layer, kept as plain numbers (no reach into it).
    created_by: Mapped[int | None] = mapped_column(Integer)
    created_at = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    filed_by: Mapped[int | None] = mapped_column(Integer)
    filed_at = mapped_column(UTCDateTime, nullable=True)
    approved_by: Mapped[int | None] = mapped_column(Integer)
    approved_at = mapped_column(UTCDateTime, nullable=True)
    approval_note: Mapped[str | None] = mapped_column(String(200))

    methodology: Mapped[Methodology] = relationship(back_populates="versions")


class DailyTally(db.Model):
    """What one account was credited on one Asia/Shanghai day: the caps' memory.

    Partitioned by month of `day` (migrations/versions/0013): quantification reads and writes the
    claim window's week, which stays in one or two small months whatever years are stored."""

    __tablename__ = "daily_tallies"
    __table_args__ = (
        CheckConstraint("trip_g >= 0 AND walk_g >= 0 AND recycling_weight_g >= 0 AND capped_g >= 0",
                        name="not_negative"),
        {"postgresql_partition_by": "RANGE (day)"},
    )

    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    trip_g: Mapped[int] = mapped_column(BigInteger, default=0)
    walk_g: Mapped[int] = mapped_column(BigInteger, default=0)
    recycling_weight_g: Mapped[int] = mapped_column(BigInteger, default=0)
    capped_g: Mapped[int] = mapped_column(BigInteger, default=0)
    implausible_count: Mapped[int] = mapped_column(Integer, default=0)


TALLY_PARTITION_NAME = re.compile(r"^daily_tallies_(p\d{6}|default)$")


class ReviewFlag(db.Model):
    """A suspicious pattern for an auditor to look at; nothing is dropped because of it."""

    __tablename__ = "review_flags"
    __table_args__ = (UniqueConstraint("account_id", "day", "code", name="uq_review_flags_account_day_code"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    day: Mapped[date] = mapped_column(Date)
    code: Mapped[str] = mapped_column(String(32))
    # No foreign key: a flag outlives its event's month being archived (migrations/versions/0009).
    event_id: Mapped[int | None] = mapped_column(BigInteger)
    detail: Mapped[str] = mapped_column(String(200))
    created_at = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    resolved_at = mapped_column(UTCDateTime, nullable=True)
    resolved_by: Mapped[int | None] = mapped_column(Integer)
