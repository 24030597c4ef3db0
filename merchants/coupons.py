"""Claiming, verifying, redeeming and expiring coupons.

Claim: the price moves from the resident into one of the campaign's escrow accounts first (the
shard the resident's account falls on; the movement locks both accounts, in id order), then the
campaign row is taken last, by one statement that counts the coupon only while stock is left
(never oversold: a CHECK backs the count) and writes it, so a hot campaign's row is held only
from that statement to the commit, and no claim on it waits on a row shared with other claims
before that: a flash sale (秒杀) queues on the campaign row alone, and claims on different
campaigns never meet. The coupon remembers its escrow; redeem moves the price from there on to
the merchant, once; expiry returns it to the resident, once. Locks are taken accounts then
campaign for a claim, coupon then accounts for a redemption or an expiry, and the accounts of
one movement always in id order, so none of them, nor transfers, deadlock.
"""
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, exists, func, insert, select, update
from sqlalchemy.orm import make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value

from accounting.business_day import SHANGHAI
from accounting.errors import Conflict, DomainError, NotFound
from accounting.ledger.idempotency import Idempotency, internal
from accounting.ledger.models import JournalTransaction
from accounting.ledger.movement import Audit, lock_accounts, move
from config.extensions import db
from merchants.campaigns import campaign as campaign_by_id
from merchants.campaigns import escrow_shard
from merchants.models import Campaign, CampaignEscrow, Coupon, Merchant

CAMPAIGNS, COUPONS, MERCHANTS = Campaign.__table__, Coupon.__table__, Merchant.__table__

# The claim takes the stock with this one statement, under the campaign row's lock, only while
# the campaign is open, has stock left (never oversold) and the resident is under the limit.
# Built once: a claim only binds its values.
_HELD = (select(func.count()).select_from(COUPONS)
         .where(COUPONS.c.campaign_id == bindparam("campaign_id", type_=CAMPAIGNS.c.id.type),
                COUPONS.c.account_id == bindparam("account_id", type_=COUPONS.c.account_id.type))
         .scalar_subquery())
_NOW = bindparam("now", type_=CAMPAIGNS.c.valid_from.type)
TAKE_STOCK = (
    update(CAMPAIGNS)
    .where(CAMPAIGNS.c.id == bindparam("campaign_id", type_=CAMPAIGNS.c.id.type), CAMPAIGNS.c.status == "published",
           CAMPAIGNS.c.claimed_count < CAMPAIGNS.c.stock, _HELD < CAMPAIGNS.c.per_resident_limit,
           CAMPAIGNS.c.valid_from <= _NOW, CAMPAIGNS.c.valid_until > _NOW,
           exists().where(MERCHANTS.c.id == CAMPAIGNS.c.merchant_id, MERCHANTS.c.status == "approved"))
    .values(claimed_count=CAMPAIGNS.c.claimed_count + 1)
    .returning(CAMPAIGNS.c.id))
COUPON_COLUMNS = [c for c in COUPONS.columns if c.key != "id"]
# The coupon is made by the same statement that takes the stock, from the row its UPDATE
# returns (none, no coupon): one round trip, and a hot campaign's row is locked for one round
# trip less before the commit. (The coupon's values are bound as new_*: an UPDATE would take a
# parameter named like one of its table's columns, e.g. `status`, as a value to SET.)
_TAKEN = TAKE_STOCK.cte("taken")
TAKE_STOCK_AND_MAKE_COUPON = (
    insert(COUPONS)
    .from_select([c.key for c in COUPON_COLUMNS],
                 select(*(_TAKEN.c.id if c.key == "campaign_id" else bindparam(f"new_{c.key}", type_=c.type)
                          for c in COUPON_COLUMNS)))
    .add_cte(_TAKEN)
    .returning(COUPONS.c.id))


# The campaign's escrow shard a resident's claims pay into. Built once: a claim only binds its values.
ESCROW_SHARD = select(CampaignEscrow.account_id).where(CampaignEscrow.campaign_id == bindparam("campaign_id"),
                                                       CampaignEscrow.shard == bindparam("shard"))


def escrow_for(offer: Campaign, account_id: int) -> int:
    """The escrow account a claim by this account pays into: the campaign's shard it falls on (a
    campaign made before campaigns had escrows of their own pays into its merchant's)."""
    shard = db.session.scalar(ESCROW_SHARD, {"campaign_id": offer.id, "shard": escrow_shard(account_id)})
    return offer.merchant.escrow_account_id if shard is None else shard


def shown_time(moment: datetime) -> str:
    """A time as the cashier reads it: Asia/Shanghai, to the second, with its offset."""
    return moment.astimezone(SHANGHAI).isoformat(timespec="seconds")


def _claimed_with(idempotency: Idempotency, campaign_id: int, account_id: int) -> Coupon | None:
    """The coupon this key claimed already (None if the key is new); any other use of it is refused."""
    transaction_id = db.session.scalar(select(JournalTransaction.id).where(
        JournalTransaction.idempotency_scope == idempotency.scope,
        JournalTransaction.idempotency_key == idempotency.key))
    if transaction_id is None:
        return None
    found = db.session.scalar(select(Coupon).where(  # by the (campaign, account) index
        Coupon.campaign_id == campaign_id, Coupon.account_id == account_id,
        Coupon.claim_transaction_id == transaction_id))
    if found is None:
        raise DomainError("idempotency_key_reused")
    return found


def _not_open(offer: Campaign, now: datetime) -> bool:
    return offer.status != "published" or offer.merchant.status != "approved" or not (
        offer.valid_from <= now < offer.valid_until)


def _refusal(offer: Campaign, now: datetime) -> Conflict | None:
    if _not_open(offer, now):
        return Conflict("campaign_not_open")
    if offer.claimed_count >= offer.stock:
        return Conflict("sold_out")
    return None


def claim(campaign_id: int, account_id: int, idempotency: Idempotency, *, now: datetime) -> Coupon:
    """One coupon for the resident, paid into its campaign's escrow; a replayed key returns it again."""
    offer = campaign_by_id(campaign_id)  # unlocked: the price, the escrow, and an early refusal
    refusal = _refusal(offer, now)
    if refusal is not None:
        replay = _claimed_with(idempotency, campaign_id, account_id)  # a replay is answered even now
        if replay is not None:
            return replay
        raise refusal
    # A twin request with this key waits inside the movement for the first to commit, then
    # replays it: its coupon is the answer.
    escrow_account_id = escrow_for(offer, account_id)
    movement = move("claim", account_id, escrow_account_id, offer.price_g, idempotency,
                    actor_id=None, memo=offer.title[:200], audit=Audit(subject=f"campaign:{offer.id}"))
    if movement.replayed:
        replay = _claimed_with(idempotency, campaign_id, account_id)
        if replay is None:
            raise DomainError("idempotency_key_reused")
        return replay
    coupon = Coupon(campaign_id=offer.id, account_id=account_id, code=secrets.token_urlsafe(12), status="claimed",
                    price_g=offer.price_g, claimed_at=now, expires_at=offer.valid_until,
                    claim_transaction_id=movement.transaction_id, escrow_account_id=escrow_account_id,
                    redeemed_at=None, redeemed_by=None,
                    redeem_transaction_id=None, expired_at=None, release_transaction_id=None)
    # The resident's account is locked now (by the movement), so their own concurrent claims
    # queue here and TAKE_STOCK's count sees every coupon they already hold.
    coupon_id = _take_stock_and_make(coupon, now)
    if coupon_id is None:
        raise _why_not_taken(campaign_id, now)
    coupon.id = coupon_id
    # The row is written by Core; the object joins the session as that row (no unit-of-work flush).
    make_transient_to_detached(coupon)
    db.session.add(coupon)
    set_committed_value(coupon, "campaign", offer)  # what the answer shows, without loading it again
    return coupon


def _take_stock_and_make(coupon: Coupon, now: datetime) -> int | None:
    """The new coupon's id, or None when TAKE_STOCK refused (and nothing was written)."""
    taking = {"campaign_id": coupon.campaign_id, "account_id": coupon.account_id, "now": now}
    return db.session.execute(TAKE_STOCK_AND_MAKE_COUPON, taking | {
        f"new_{c.key}": getattr(coupon, c.key) for c in COUPON_COLUMNS if c.key != "campaign_id"}).scalar()


def _why_not_taken(campaign_id: int, now: datetime) -> Conflict:
    """Why the stock was not taken: the campaign as it is now, or the resident's limit."""
    offer = db.session.scalar(select(Campaign).where(Campaign.id == campaign_id)
                              .execution_options(populate_existing=True))
    refusal = _refusal(offer, now)
    if refusal is not None:
        return refusal
    return Conflict("over_limit", limit=offer.per_resident_limit)


# A coupon locked for a change, refreshing what the session may hold already: the row as it is
# once the lock is ours. Built once: a redemption only binds the id.
LOCKED_COUPON = (select(Coupon).where(Coupon.id == bindparam("coupon_id", type_=COUPONS.c.id.type))
                 .with_for_update(of=Coupon).execution_options(populate_existing=True))


def coupon(coupon_id: int, *, lock: bool = False) -> Coupon:
    if lock:
        found = db.session.scalar(LOCKED_COUPON, {"coupon_id": coupon_id})
    else:  # by primary key: the session's own copy, or one cached statement
        found = db.session.get(Coupon, coupon_id)
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
        raise DomainError("qr_invalid")  # the token was signed for another code: forged
    verdict = check(found, merchant_id, now=now)
    if not verdict.valid:
        if verdict.reason == "already_redeemed":
            raise Conflict("already_redeemed", at=shown_time(found.redeemed_at),
                           merchant=found.campaign.merchant.name)
        raise Conflict(verdict.reason)
    merchant = found.campaign.merchant
    movement = move("redeem", found.escrow_account_id, merchant.account_id, found.price_g,
                    internal("coupon", f"redeem:{found.id}"), actor_id=staff_user_id, memo=found.campaign.title[:200],
                    audit=Audit(actor=f"user:{staff_user_id}", subject=f"coupon:{found.id}"))
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
    # Every account this sweep moves between, locked at once in id order: a sweep makes many
    # movements, and taking their locks one movement at a time could deadlock with another sweep.
    if due:
        lock_accounts({c.escrow_account_id for c in due} | {c.account_id for c in due})
    for found in due:
        _release(found, now, "coupon expired")
    db.session.flush()
    return len(due)


def _release(found: Coupon, now: datetime, memo: str) -> None:
    """Return a claimed coupon's price from the escrow to its resident; the coupon can no longer be
    used. Keyed by the coupon, so whichever path releases it first (expiry, closure) does, once."""
    movement = move("release", found.escrow_account_id, found.account_id, found.price_g,
                    internal("coupon", f"release:{found.id}"), actor_id=None, memo=memo,
                    audit=Audit(subject=f"coupon:{found.id}"), receiver_may_be_frozen=True)
    found.status, found.expired_at, found.release_transaction_id = "expired", now, movement.transaction_id


def claimed_coupons_of(account_id: int) -> list[Coupon]:
    """A resident's coupons still claimed, locked (coupon rows first, as a redemption takes them)."""
    return list(db.session.scalars(
        select(Coupon).where(Coupon.account_id == account_id, Coupon.status == "claimed")
        .order_by(Coupon.id).with_for_update(of=Coupon).execution_options(populate_existing=True)))


def escrows_of(found: list[Coupon]) -> set[int]:
    return {c.escrow_account_id for c in found}


def release_for_closure(found: list[Coupon], *, now: datetime) -> int:
    """Release the coupons (claimed_coupons_of) of a resident closing their account, whose accounts the
    caller has locked: the price goes back, as at expiry, before the balance leaves. Stock is not
    given back to the campaign, as at expiry. How many grams came back."""
    for coupon_ in found:
        _release(coupon_, now, "account closed")
    db.session.flush()
    return sum(c.price_g for c in found)


def coupons_of(account_id: int, *, limit: int, before_id: int | None = None) -> list[Coupon]:
    query = select(Coupon).where(Coupon.account_id == account_id)
    if before_id is not None:
        query = query.where(Coupon.id < before_id)
    return list(db.session.scalars(query.order_by(Coupon.id.desc()).limit(limit)))
