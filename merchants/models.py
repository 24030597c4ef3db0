"""Merchants, their coupon campaigns, and the coupons residents claim."""
from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, Integer, SmallInteger, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from config.db_types import UTCDateTime, utcnow
from config.extensions import db

MERCHANT_STATUSES = ("pending", "approved", "rejected", "suspended")
CAMPAIGN_STATUSES = ("draft", "published", "paused", "ended")
COUPON_STATUSES = ("claimed", "redeemed", "expired")
CATEGORIES = ("food", "clothing", "housing", "transport", "goods", "services")  # 衣、食、住、行、用 …


class Merchant(db.Model):
    """A shop that applied to take coupons; on approval it gets a holder, an account and an escrow."""

    __tablename__ = "merchants"
    __table_args__ = (
        CheckConstraint(f"status IN {MERCHANT_STATUSES}", name="status"),
        CheckConstraint("status <> 'approved' OR (account_id IS NOT NULL AND escrow_account_id IS NOT NULL)",
                        name="approved_has_accounts"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    district: Mapped[str] = mapped_column(String(32))
    address: Mapped[str] = mapped_column(String(200))
    category: Mapped[str] = mapped_column(String(16))
    licence_number: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(10), default="pending")
    holder_id: Mapped[int | None] = mapped_column(ForeignKey("holders.id"))
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"))
    # The merchant's own escrow: what coupons claimed before campaigns had escrows of their own
    # (migration 0011) owe; claims now pay into their campaign's (CampaignEscrow).
    escrow_account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"))
    applied_by: Mapped[int | None] = mapped_column(Integer)
    decided_by: Mapped[int | None] = mapped_column(Integer)
    decided_at = mapped_column(UTCDateTime, nullable=True)
    decision_note: Mapped[str | None] = mapped_column(String(200))
    created_at = mapped_column(UTCDateTime, nullable=False, default=utcnow)


class Campaign(db.Model):
    """Coupons a merchant offers for credits; claimed_count never passes stock (no oversell)."""

    __tablename__ = "campaigns"
    __table_args__ = (
        CheckConstraint(f"status IN {CAMPAIGN_STATUSES}", name="status"),
        CheckConstraint("claimed_count >= 0 AND claimed_count <= stock", name="never_oversold"),
        CheckConstraint("price_g > 0 AND face_value_fen > 0 AND per_resident_limit > 0", name="positive"),
        CheckConstraint("valid_until > valid_from", name="validity"),
        Index("ix_campaigns_status_valid_until", "status", "valid_until"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"), index=True)
    title: Mapped[str] = mapped_column(String(100))
    description: Mapped[str | None] = mapped_column(Text)
    terms: Mapped[str | None] = mapped_column(Text)
    face_value_fen: Mapped[int] = mapped_column(Integer)
    price_g: Mapped[int] = mapped_column(BigInteger)
    stock: Mapped[int] = mapped_column(Integer)
    claimed_count: Mapped[int] = mapped_column(Integer, default=0)
    per_resident_limit: Mapped[int] = mapped_column(Integer, default=1)
    valid_from = mapped_column(UTCDateTime, nullable=False)
    valid_until = mapped_column(UTCDateTime, nullable=False)
    status: Mapped[str] = mapped_column(String(10), default="draft")
    created_by: Mapped[int | None] = mapped_column(Integer)
    created_at = mapped_column(UTCDateTime, nullable=False, default=utcnow)

    merchant: Mapped[Merchant] = relationship(lazy="joined")

    @property
    def remaining(self) -> int:
        return self.stock - self.claimed_count


class CampaignEscrow(db.Model):
    """One of a campaign's escrow accounts (shards): a claim pays into the one its resident's account
    falls on, so a flash sale's claims do not queue on one escrow row, and claims on different
    campaigns of a merchant never meet. Written with the campaign, never changed."""

    __tablename__ = "campaign_escrows"
    __table_args__ = (CheckConstraint("shard >= 0", name="shard"),)

    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"), primary_key=True)
    shard: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), unique=True)


class Coupon(db.Model):
    """A claimed coupon: its price sits in an escrow (escrow_account_id: its campaign's shard, or
    for coupons older than those, its merchant's) until redeemed or expired."""

    __tablename__ = "coupons"
    __table_args__ = (
        CheckConstraint(f"status IN {COUPON_STATUSES}", name="status"),
        CheckConstraint("status <> 'redeemed' OR (redeemed_at IS NOT NULL AND redeem_transaction_id IS NOT NULL)",
                        name="redemption_recorded"),
        Index("ix_coupons_campaign_id_account_id", "campaign_id", "account_id"),
        # The expiry sweep reads only coupons still waiting.
        Index("ix_coupons_claimed_expires_at", "expires_at", postgresql_where=text("status = 'claimed'")),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"))
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    code: Mapped[str] = mapped_column(String(24), unique=True)
    status: Mapped[str] = mapped_column(String(10), default="claimed")
    price_g: Mapped[int] = mapped_column(BigInteger)
    claimed_at = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    expires_at = mapped_column(UTCDateTime, nullable=False)
    claim_transaction_id: Mapped[int] = mapped_column(ForeignKey("journal_transactions.id"))
    escrow_account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    redeemed_at = mapped_column(UTCDateTime, nullable=True)
    redeemed_by: Mapped[int | None] = mapped_column(Integer)
    redeem_transaction_id: Mapped[int | None] = mapped_column(ForeignKey("journal_transactions.id"))
    expired_at = mapped_column(UTCDateTime, nullable=True)
    release_transaction_id: Mapped[int | None] = mapped_column(ForeignKey("journal_transactions.id"))

    campaign: Mapped[Campaign] = relationship(lazy="joined")
