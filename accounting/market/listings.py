"""挂牌: a seller's offer of credits at a price. Listing moves the credits into the listing's own
escrow at once (nothing is sold twice); cancelling or expiring returns what is left."""
from datetime import datetime

from sqlalchemy import select

from accounting.errors import Conflict, DomainError, NotFound
from accounting.ledger import audit
from accounting.ledger.accounts import open_escrow_account
from accounting.ledger.idempotency import Idempotency, internal
from accounting.ledger.movement import Audit, move
from accounting.market.models import Listing
from config.extensions import db

EXPIRY_BATCH = 200


def open_listing(seller_account_id: int, quantity_g: int, price_fen_per_t: int, min_lot_g: int,
                 expires_at: datetime | None, idempotency: Idempotency, *, actor_id: int | None,
                 now: datetime) -> Listing:
    """The credits leave the seller for the listing's escrow in one movement; a replay (a twin
    request that committed first) answers the first listing."""
    if min_lot_g > quantity_g:
        raise DomainError("min_lot_above_quantity", min_lot_g=min_lot_g, quantity_g=quantity_g)
    if expires_at is not None and expires_at <= now:
        raise DomainError("expiry_not_in_future")
    savepoint = db.session.begin_nested()
    escrow = open_escrow_account("market")
    moved = move("list", seller_account_id, escrow.id, quantity_g, idempotency, actor_id=actor_id,
                 memo=f"{price_fen_per_t} fen/t", audit=Audit(actor=audit.actor_label(actor_id),
                                                              subject=f"account:{escrow.number}"))
    if moved.replayed:
        savepoint.rollback()  # the escrow opened for nothing
        return db.session.scalar(select(Listing).where(Listing.opened_in == moved.transaction_id))
    listing = Listing(seller_account_id=seller_account_id, escrow_account_id=escrow.id, quantity_g=quantity_g,
                      remaining_g=quantity_g, price_fen_per_t=price_fen_per_t, min_lot_g=min_lot_g,
                      expires_at=expires_at, status="open", opened_in=moved.transaction_id, created_by=actor_id,
                      created_at=now)
    db.session.add(listing)
    savepoint.commit()
    db.session.flush()
    return listing


def listing(listing_id: int, *, lock: bool = False) -> Listing:
    query = select(Listing).where(Listing.id == listing_id)
    found = db.session.scalar(query.with_for_update() if lock else query)
    if found is None:
        raise NotFound("listing_not_found", listing_id=listing_id)
    return found


def close(listing_id: int, status: str, idempotency: Idempotency, *, actor_id: int | None,
          now: datetime, seller_account_id: int | None = None) -> tuple[Listing, int]:
    """Cancel (its seller) or expire an open listing: its remainder goes back to the seller, who
    may be frozen (its own credits coming home). Answers the listing and the grams returned."""
    found = listing(listing_id, lock=True)
    if seller_account_id is not None and found.seller_account_id != seller_account_id:
        raise NotFound("listing_not_found", listing_id=listing_id)  # others' listings are not theirs to see closed
    if found.status != "open":
        raise Conflict("listing_not_open", listing_id=listing_id, status=found.status)
    returned = found.remaining_g
    move("delist", found.escrow_account_id, found.seller_account_id, returned, idempotency, actor_id=actor_id,
         memo=status, receiver_may_be_frozen=True,
         audit=Audit(actor=audit.actor_label(actor_id), subject=f"listing:{found.id}"))
    found.status, found.closed_at = status, now
    db.session.flush()
    return found, returned


def expire_due(now: datetime, limit: int = EXPIRY_BATCH) -> int:
    """Listings past their `expires_at` return their remainder (one sweep, a batch at a time);
    one a concurrent order holds is left for the next sweep."""
    due = db.session.scalars(
        select(Listing.id).where(Listing.status == "open", Listing.expires_at <= now)
        .order_by(Listing.id).limit(limit).with_for_update(skip_locked=True)).all()
    for listing_id in due:
        close(listing_id, "expired", internal("listing-expiry", str(listing_id)), actor_id=None, now=now)
    return len(due)
