"""Coupon campaigns: draft → published → paused → ended; only approved merchants publish."""
import hashlib
from datetime import datetime

from sqlalchemy import select

from accounting.errors import Conflict, DomainError, NotFound
from accounting.ledger.accounts import open_escrow_accounts
from config.db_types import utcnow
from config.extensions import db
from merchants.applications import merchant
from merchants.models import Campaign, CampaignEscrow, Merchant

TRANSITIONS = {"publish": ("draft", "paused"), "pause": ("published",), "end": ("draft", "published", "paused")}
TARGET = {"publish": "published", "pause": "paused", "end": "ended"}
# How many escrow accounts each campaign has. A claim holds its shard's row from its movement to
# its commit; with as many shards as claims a server runs at once, a flash sale's claims seldom
# meet there and queue only on the campaign row, which they take last.
ESCROW_SHARDS = 8


def escrow_shard(account_id: int) -> int:
    """The shard a resident's claims pay into: a hash of the account id, so residents spread evenly
    over the shards whatever pattern their ids come in (id % n would put every n-th resident, e.g.
    every n-th of a batch registered together, on one shard)."""
    digest = hashlib.blake2b(account_id.to_bytes(8, "big"), digest_size=4).digest()
    return int.from_bytes(digest, "big") % ESCROW_SHARDS


def create(merchant_id: int, fields: dict, *, actor_id: int, publish: bool) -> Campaign:
    owner = merchant(merchant_id)
    if publish and owner.status != "approved":
        raise Conflict("merchant_not_approved")
    if fields["valid_until"] <= fields["valid_from"]:
        raise DomainError("invalid_validity")
    campaign = Campaign(merchant_id=owner.id, status="published" if publish else "draft", claimed_count=0,
                        created_by=actor_id, **fields)
    db.session.add(campaign)
    db.session.flush()
    db.session.add_all(CampaignEscrow(campaign_id=campaign.id, shard=n, account_id=account_id)
                       for n, account_id in enumerate(open_escrow_accounts(ESCROW_SHARDS)))
    db.session.flush()
    return campaign


def campaign(campaign_id: int, *, lock: bool = False) -> Campaign:
    if lock:  # refresh what the session may hold already: the row as it is once the lock is ours
        found = db.session.scalar(select(Campaign).where(Campaign.id == campaign_id)
                                  .with_for_update(of=Campaign).execution_options(populate_existing=True))
    else:  # by primary key: the session's own copy, or one cached statement (a claim's first read)
        found = db.session.get(Campaign, campaign_id)
    if found is None:
        raise NotFound("campaign_not_found")
    return found


def visible_campaign(campaign_id: int, *, merchant_id: int | None, bureau: bool) -> Campaign:
    """A campaign as a viewer may see it: a draft only by its own merchant's staff and the bureau
    (to anyone else it does not exist)."""
    found = campaign(campaign_id)
    if found.status == "draft" and not bureau and found.merchant_id != merchant_id:
        raise NotFound("campaign_not_found")
    return found


def change_status(campaign_id: int, merchant_id: int, action: str) -> Campaign:
    found = campaign(campaign_id, lock=True)
    if found.merchant_id != merchant_id:
        raise NotFound("campaign_not_found")
    if found.status not in TRANSITIONS[action]:
        raise Conflict("campaign_not_in_state", expected=" / ".join(TRANSITIONS[action]), actual=found.status)
    if action == "publish" and found.merchant.status != "approved":
        raise Conflict("merchant_not_approved")
    found.status = TARGET[action]
    db.session.flush()
    return found


def open_campaigns(*, now: datetime | None = None, district: str | None = None, category: str | None = None,
                   limit: int, after_id: int | None = None) -> list[Campaign]:
    """Published campaigns of approved merchants valid now, for residents to browse."""
    now = now or utcnow()
    query = (select(Campaign).join(Merchant)
             .where(Campaign.status == "published", Merchant.status == "approved",
                    Campaign.valid_from <= now, Campaign.valid_until > now))
    if district:
        query = query.where(Merchant.district == district)
    if category:
        query = query.where(Merchant.category == category)
    if after_id is not None:
        query = query.where(Campaign.id < after_id)
    return list(db.session.scalars(query.order_by(Campaign.id.desc()).limit(limit)))
