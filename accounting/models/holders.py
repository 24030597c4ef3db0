"""Holders (who owns credits) and their registry accounts."""
from sqlalchemy import CheckConstraint, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from config.db_types import BigId, UTCDateTime, utcnow
from config.extensions import db

HOLDER_KINDS = ("resident", "merchant", "enterprise", "bureau")
ACCOUNT_KINDS = ("holder", "issuance", "escrow", "retirement", "revocation")


class Holder(db.Model):
    """A resident, merchant, enterprise or the bureau: whoever can hold credits."""

    __tablename__ = "holders"
    __table_args__ = (CheckConstraint(f"kind IN {HOLDER_KINDS}", name="kind"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
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
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    number: Mapped[str] = mapped_column(String(12), unique=True)
    kind: Mapped[str] = mapped_column(String(12), default="holder")
    holder_id: Mapped[int | None] = mapped_column(ForeignKey("holders.id"), unique=True)
    balance_g: Mapped[int] = mapped_column(db.BigInteger, default=0, server_default="0")
    created_at = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    frozen_at = mapped_column(UTCDateTime, nullable=True)

    holder: Mapped[Holder | None] = relationship(back_populates="account")
