"""单向竞价: the bureau auctions the pool's credits. Sealed bids reserve the bidder's money; at the
close (beat, or an auditor's call after it) the auction clears at one price, in one transaction:
credits to the winners, money to the pool, reservations released, the unsold back to the pool."""
from datetime import datetime

from flask import current_app
from sqlalchemy import select, text

from accounting.errors import Conflict, DomainError, NotFound
from accounting.ledger import audit
from accounting.ledger.accounts import open_escrow_account, system_account_id
from accounting.ledger.idempotency import Idempotency, internal
from accounting.ledger.movement import Audit, InsufficientFunds, Leg, exchange, move
from accounting.market.clearing import SealedBid, clear, reservation, settle
from accounting.market.models import Auction, Bid
from config.extensions import db

CLEARING_BATCH = 20


def create(quantity_g: int, reserve_price_fen_per_t: int, opens_at: datetime | None, closes_at: datetime,
           idempotency: Idempotency, *, actor_id: int, now: datetime) -> Auction:
    """The pool's credits go into the auction's escrow at once (a replay answers the first auction)."""
    opens_at = opens_at or now
    if closes_at <= opens_at or closes_at <= now:
        raise DomainError("invalid_auction_window")
    pool = system_account_id("pool")
    savepoint = db.session.begin_nested()
    escrow = open_escrow_account("market")
    moved = move("auction", pool, escrow.id, quantity_g, idempotency, actor_id=actor_id,
                 memo=f"reserve {reserve_price_fen_per_t} fen/t",
                 audit=Audit(actor=audit.actor_label(actor_id), subject=f"account:{escrow.number}"))
    if moved.replayed:
        savepoint.rollback()
        return db.session.scalar(select(Auction).where(Auction.opened_in == moved.transaction_id))
    found = Auction(seller_account_id=pool, escrow_account_id=escrow.id, quantity_g=quantity_g,
                    reserve_price_fen_per_t=reserve_price_fen_per_t, opens_at=opens_at, closes_at=closes_at,
                    opened_in=moved.transaction_id, created_by=actor_id, created_at=now)
    db.session.add(found)
    savepoint.commit()
    db.session.flush()
    return found


def status(found: Auction, now: datetime) -> str:
    """By the clock: scheduled, open, closed (awaiting clearing) or cleared; no task needed."""
    if found.cleared_at is not None:
        return "cleared"
    if now < found.opens_at:
        return "scheduled"
    return "open" if now < found.closes_at else "closed"


def auction(auction_id: int, *, lock: str | None = None) -> Auction:
    query = select(Auction).where(Auction.id == auction_id)
    if lock == "share":
        query = query.with_for_update(read=True)
    elif lock == "update":
        query = query.with_for_update()
    found = db.session.scalar(query)
    if found is None:
        raise NotFound("auction_not_found", auction_id=auction_id)
    return found


RESERVE = text(
    "UPDATE accounts SET reserved_fen = reserved_fen + :amount "
    "WHERE id = :account AND frozen_at IS NULL AND money_fen - reserved_fen >= :amount "
    "RETURNING id")
FREE_MONEY = text("SELECT money_fen - reserved_fen, frozen_at IS NOT NULL FROM accounts WHERE id = :account")


def place_bid(auction_id: int, bidder_account_id: int, quantity_g: int, price_fen_per_t: int, *,
              actor_id: int, now: datetime) -> Bid:
    """A sealed bid: it reserves what it could cost (with the fee) of the bidder's free money."""
    # Shared: bids run side by side; clearing takes the row exclusively, so no bid slips in after.
    found = auction(auction_id, lock="share")
    state = status(found, now)
    if state == "scheduled":
        raise Conflict("auction_not_open", opens_at=found.opens_at.isoformat())
    if state != "open":
        raise Conflict("auction_closed")
    if price_fen_per_t < found.reserve_price_fen_per_t:
        raise DomainError("below_reserve", reserve_price_fen_per_t=found.reserve_price_fen_per_t)
    if quantity_g > found.quantity_g:
        raise DomainError("bid_above_quantity", quantity_g=found.quantity_g)
    reserved = reservation(quantity_g, price_fen_per_t, current_app.config["MARKET_FEE_BP"])
    if db.session.execute(RESERVE, {"amount": reserved, "account": bidder_account_id}).first() is None:
        free, frozen = db.session.execute(FREE_MONEY, {"account": bidder_account_id}).one()
        if frozen:
            raise Conflict("account_frozen")
        raise InsufficientFunds(money_fen=free, needed=reserved)
    bid = Bid(auction_id=found.id, bidder_account_id=bidder_account_id, quantity_g=quantity_g,
              price_fen_per_t=price_fen_per_t, reserved_fen=reserved, created_by=actor_id, created_at=now)
    db.session.add(bid)
    db.session.flush()
    audit.record(audit.actor_label(actor_id), "bid_placed", f"auction:{found.id}",
                 {"bid": bid.id, "account": bidder_account_id, "reserved_fen": reserved})
    return bid


def bids_of(auction_id: int) -> list[Bid]:
    return db.session.scalars(select(Bid).where(Bid.auction_id == auction_id)
                              .order_by(Bid.created_at, Bid.id)).all()


def clear_auction(auction_id: int, *, actor_id: int | None, now: datetime) -> Auction:
    """After the close, once: allocate, settle in one transaction, record every bid's outcome.
    Clearing again answers the same result."""
    found = auction(auction_id, lock="update")
    if found.cleared_at is not None:
        return found
    if now < found.closes_at:
        raise Conflict("auction_open", closes_at=found.closes_at.isoformat())
    bids = bids_of(found.id)
    sealed = [SealedBid(b.id, b.quantity_g, b.price_fen_per_t, b.created_at, b.reserved_fen) for b in bids]
    result = clear(found.quantity_g, sealed)
    settlements = settle(result, sealed, current_app.config["MARKET_FEE_BP"])
    pool, fees = found.seller_account_id, system_account_id("fees")
    credits, money = [], []
    for bid in bids:
        outcome = settlements[bid.id]
        bid.allocated_g, bid.amount_fen = outcome.allocated_g, outcome.amount_fen
        bid.fee_fen, bid.released_fen = outcome.fee_fen, outcome.released_fen
        if bid.allocated_g:
            credits.append(Leg(found.escrow_account_id, bid.bidder_account_id, bid.allocated_g))
            money.append(Leg(bid.bidder_account_id, pool, bid.amount_fen))
        if bid.fee_fen:
            money.append(Leg(bid.bidder_account_id, fees, bid.fee_fen))
    if result.unsold_g:
        credits.append(Leg(found.escrow_account_id, pool, result.unsold_g))
    releases = [(bid.bidder_account_id, bid.reserved_fen) for bid in bids if bid.reserved_fen]
    if credits:
        settled = exchange("clear", internal("auction-clearing", str(found.id)), credits=credits, money=money,
                           releases=releases, actor_id=actor_id,
                           audit=Audit(actor=audit.actor_label(actor_id), subject=f"auction:{found.id}",
                                       payload={"clearing_price_fen_per_t": result.price_fen_per_t}))
        found.clear_transaction_id = settled.transaction_id
    else:  # revocations took every unit: nothing moves, no transaction; the bids get their money back
        _release(releases)
        audit.record(audit.actor_label(actor_id), "auction_cleared_empty", f"auction:{found.id}",
                     {"released_fen": sum(fen for _, fen in releases)})
    found.clearing_price_fen_per_t, found.sold_g = result.price_fen_per_t, found.quantity_g - result.unsold_g
    found.cleared_at = now
    db.session.flush()
    return found


RELEASE = text("UPDATE accounts SET reserved_fen = reserved_fen - :amount WHERE id = :account")


def _release(releases: list[tuple[int, int]]) -> None:
    """Give bids' reservations back, each bidder's account once, in id order (the ledger's lock order)."""
    per_account: dict[int, int] = {}
    for account_id, fen in releases:
        per_account[account_id] = per_account.get(account_id, 0) + fen
    for account_id in sorted(per_account):
        db.session.execute(RELEASE, {"amount": per_account[account_id], "account": account_id})


def clearing_view(found: Auction) -> dict:
    bids = sorted(bids_of(found.id), key=lambda b: b.id)
    return {"auction_id": found.id, "clearing_price_fen_per_t": found.clearing_price_fen_per_t,
            "unsold_g": found.quantity_g - (found.sold_g or 0), "cleared_at": found.cleared_at,
            "allocations": [{"bid_id": b.id, "quantity_g": b.allocated_g, "amount_fen": b.amount_fen,
                             "fee_fen": b.fee_fen, "released_fen": b.released_fen} for b in bids]}


def clear_due(now: datetime, limit: int = CLEARING_BATCH) -> int:
    """Beat's sweep: every auction past its close and not cleared, each in a savepoint of its own
    (one that cannot clear, a winner's account frozen, stays for an auditor and the next sweep)."""
    due = db.session.scalars(select(Auction.id).where(Auction.cleared_at.is_(None), Auction.closes_at <= now)
                             .order_by(Auction.closes_at).limit(limit).with_for_update(skip_locked=True)).all()
    cleared = 0
    for auction_id in due:
        try:
            with db.session.begin_nested():
                clear_auction(auction_id, actor_id=None, now=now)
            cleared += 1
        except DomainError:
            current_app.logger.warning("auction %s could not clear", auction_id, exc_info=True)
    return cleared
