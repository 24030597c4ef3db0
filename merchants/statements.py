"""A merchant's statement of a period: claims into escrow, redemptions, returns, retirements."""
from datetime import date, timedelta

from sqlalchemy import or_, select

from accounting.business_day import day_start
from accounting.ledger.models import JournalEntry, JournalTransaction
from config.extensions import db
from merchants.models import Campaign, CampaignEscrow, Coupon, Merchant

HEADER = ["time", "type", "transaction_id", "coupon_id", "campaign", "account", "amount_g", "memo"]


def statement_rows(found: Merchant, first: date, last: date) -> list[list]:
    """Every entry on the merchant's account or escrows (its own, and each campaign's shards)
    between two Asia/Shanghai days."""
    accounts = {found.account_id: "merchant", found.escrow_account_id: "escrow"} | {
        account_id: "escrow" for account_id in db.session.scalars(
            select(CampaignEscrow.account_id).join(Campaign, Campaign.id == CampaignEscrow.campaign_id)
            .where(Campaign.merchant_id == found.id))}
    coupon_of = (select(Coupon.id, Campaign.title, JournalTransaction.id.label("transaction_id"))
                 .join(Campaign, Campaign.id == Coupon.campaign_id)
                 .join(JournalTransaction, or_(JournalTransaction.id == Coupon.claim_transaction_id,
                                               JournalTransaction.id == Coupon.redeem_transaction_id,
                                               JournalTransaction.id == Coupon.release_transaction_id))
                 .where(Campaign.merchant_id == found.id)).subquery()
    rows = db.session.execute(
        select(JournalTransaction.created_at, JournalTransaction.kind, JournalTransaction.id, coupon_of.c.id,
               coupon_of.c.title, JournalEntry.account_id, JournalEntry.amount_g, JournalTransaction.memo)
        .join(JournalTransaction, JournalTransaction.id == JournalEntry.transaction_id)
        .outerjoin(coupon_of, coupon_of.c.transaction_id == JournalTransaction.id)
        .where(JournalEntry.account_id.in_([a for a in accounts if a is not None]),
               JournalTransaction.created_at >= day_start(first),
               JournalTransaction.created_at < day_start(last + timedelta(days=1)))
        .order_by(JournalTransaction.id)).all()
    return [[at.isoformat(), kind, txn, coupon_id, title, accounts[account], amount, memo]
            for at, kind, txn, coupon_id, title, account, amount, memo in rows]


def statement_totals(rows: list[list]) -> list[list]:
    """A total per (movement type, account): what a merchant reconciles a period with."""
    totals = {}
    for row in rows:
        totals[(row[1], row[5])] = totals.get((row[1], row[5]), 0) + row[6]
    return [[], ["total", "type", "", "", "", "account", "amount_g", ""]] + [
        ["total", kind, "", "", "", account, amount, ""] for (kind, account), amount in sorted(totals.items())]
