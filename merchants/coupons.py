"""Claiming, verifying, redeeming and expiring coupons.

Claim: the campaign row is locked first (the stock never oversells: a CHECK backs the
count), then the resident and the merchant's escrow in id order; the price moves into
escrow in the same transaction. Redeem moves it on to the merchant, once; expiry returns
it to the resident, once. Row locks are always taken coupon/campaign first, accounts
after, so claims, redemptions, expiries and transfers never deadlock.
"""
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, update

from accounting import registry
from accounting.errors import Conflict, DomainError, NotFound
from accounting.ledger import Idempotency
from accounting.models import JournalTransaction
from config.extensions import db
from merchants.campaigns import campaign as campaign_by_id
from merchants.models import Campaign, Coupon

CAMPAIGNS = Campaign.__table__


def _claimed_with(idempotency: Idempotency) -> Coupon | None:
    return db.session.scalar(select(Coupon).join(JournalTransaction, JournalTransaction.id == Coupon.claim_transaction_id)
                             .where(JournalTransaction.idempotency_scope == idempotency.scope,
                                    JournalTransaction.idempotency_key == idempotency.key))


def claim(campaign_id: int, account_id: int, idempotency: Idempotency, *, now: datetime) -> Coupon:
    """One coupon for the resident, paid into the merchant's escrow; a replayed key returns it again."""
    replay = _claimed_with(idempotency)
    if replay is not None:
        if replay.campaign_id != campaign_id or replay.account_id != account_id:
            raise DomainError("idempotency_key_reused")
        return replay
    offer = campaign_by_id(campaign_id, lock=True)
    if offer.status != "published" or offer.merchant.status != "approved" or not (
            offer.valid_from <= now < offer.valid_until):
        raise Conflict("campaign_not_open")
    if offer.claimed_count >= offer.stock:
        raise Conflict("sold_out")
    held = db.session.scalar(select(func.count()).select_from(Coupon).where(
        Coupon.campaign_id == offer.id, Coupon.account_id == account_id))
    if held >= offer.per_resident_limit:
        raise Conflict("over_limit", limit=offer.per_resident_limit)
    movement = registry.move("claim", account_id, offer.merchant.escrow_account_id, offer.price_g, idempotency,
                             actor_id=None, memo=offer.title[:200], audit_subject=f"campaign:{offer.id}")
    db.session.execute(update(CAMPAIGNS).where(CAMPAIGNS.c.id == offer.id)
                       .values(claimed_count=CAMPAIGNS.c.claimed_count + 1))
    coupon = Coupon(campaign_id=offer.id, account_id=account_id, code=secrets.token_urlsafe(12), status="claimed",
                    price_g=offer.price_g, claimed_at=now, expires_at=offer.valid_until,
                    claim_transaction_id=movement.transaction_id)
    db.session.add(coupon)
    db.session.flush()
    return coupon


def coupon(coupon_id: int, *, lock: bool = False) -> Coupon:
    query = select(Coupon).where(Coupon.id == coupon_id)
    found = db.session.scalar(query.with_for_update(of=Coupon) if lock else query)
    if found is None:
        raise NotFound("coupon_not_found")
    return found


@dataclass(frozen=True)
class Check:
    coupon: Coupon
    valid: bool
    reason: str | None


def check(found: Coupon, merchant_id: int, *, now: datetime) -> Check:
    """Whether this cashier's shop may redeem the coupon now, and if not, why."""
    if found.campaign.merchant_id != merchant_id:
        return Check(found, False, "coupon_of_another_merchant")
    if found.status == "redeemed":
        return Check(found, False, "already_redeemed")
    if found.status == "expired" or now >= found.expires_at:
        return Check(found, False, "coupon_expired")
    if found.campaign.merchant.status != "approved":
        return Check(found, False, "merchant_not_approved")
    return Check(found, True, None)


def redeem(coupon_id: int, code: str, merchant_id: int, staff_user_id: int, *, now: datetime) -> Coupon:
    """Mark the coupon used and move its escrowed price to the merchant; a second time is refused."""
    found = coupon(coupon_id, lock=True)
    if not secrets.compare_digest(found.code, code):
        raise NotFound("coupon_not_found")
    verdict = check(found, merchant_id, now=now)
    if not verdict.valid:
        if verdict.reason == "already_redeemed":
            raise Conflict("already_redeemed", at=found.redeemed_at.isoformat(),
                           merchant=found.campaign.merchant.name)
        raise Conflict(verdict.reason)
    merchant = found.campaign.merchant
    movement = registry.move("redeem", merchant.escrow_account_id, merchant.account_id, found.price_g,
                             Idempotency("coupon", f"redeem:{found.id}", f"redeem:{found.id}"),
                             actor_id=staff_user_id, memo=found.campaign.title[:200],
                             audit_subject=f"coupon:{found.id}")
    found.status, found.redeemed_at, found.redeemed_by = "redeemed", now, staff_user_id
    found.redeem_transaction_id = movement.transaction_id
    db.session.flush()
    return found


def expire_due(*, now: datetime, limit: int = 500) -> int:
    """Return the price of coupons past their expiry to their residents; each exactly once.

    SKIP LOCKED lets two sweeps run at once without waiting on or repeating each other.
    """
    query = (select(Coupon).where(Coupon.status == "claimed", Coupon.expires_at <= now)
             .order_by(Coupon.id).limit(limit).with_for_update(of=Coupon, skip_locked=True))
    due = list(db.session.scalars(query))
    for found in due:
        merchant = found.campaign.merchant
        movement = registry.move("release", merchant.escrow_account_id, found.account_id, found.price_g,
                                 Idempotency("coupon", f"release:{found.id}", f"release:{found.id}"),
                                 actor_id=None, memo="coupon expired", audit_subject=f"coupon:{found.id}",
                                 receiver_may_be_frozen=True)
        found.status, found.expired_at, found.release_transaction_id = "expired", now, movement.transaction_id
    db.session.flush()
    return len(due)


def coupons_of(account_id: int, *, limit: int, before_id: int | None = None) -> list[Coupon]:
    query = select(Coupon).where(Coupon.account_id == account_id)
    if before_id is not None:
        query = query.where(Coupon.id < before_id)
    return list(db.session.scalars(query.order_by(Coupon.id.desc()).limit(limit)))
