"""公益捐赠: a resident gives credits to the pool (碳普惠池), whose sales fund the bureau's incentives."""
from sqlalchemy import func, select, text

from accounting.ledger.accounts import system_account_id
from accounting.ledger.audit import actor_label
from accounting.ledger.idempotency import Idempotency
from accounting.ledger.models import Account, JournalEntry, JournalTransaction
from accounting.ledger.movement import Audit, Moved, move
from config.extensions import db


def donate(account_id: int, amount_g: int, idempotency: Idempotency, *, actor_id: int | None) -> Moved:
    """One movement of the donor's oldest units to the pool; a replay returns the first."""
    return move("donate", account_id, system_account_id("pool"), amount_g, idempotency, actor_id=actor_id,
                memo="公益捐赠", audit=Audit(actor=actor_label(actor_id)))


def pool_figures() -> dict:
    """The pool as the public sees it: its number, what it holds, what was donated to it."""
    pool = db.session.get(Account, system_account_id("pool"))
    donated = db.session.scalar(
        select(func.coalesce(func.sum(JournalEntry.amount_g), 0)).join(JournalTransaction)
        .where(JournalEntry.account_id == pool.id, JournalTransaction.kind == "donate"))
    sold = db.session.scalar(text(POOL_SOLD), {"pool": pool.id})
    return {"account_number": pool.number, "credits_g": pool.balance_g, "money_fen": pool.money_fen,
            "donated_total_g": int(donated), "sold_total_g": int(sold)}


# Sold: bought from the pool's listings, and won in its auctions (the market's tables, read as SQL
# here: the ledger does not import the market).
POOL_SOLD = """
    SELECT (SELECT coalesce(sum(f.quantity_g), 0) FROM market_fills AS f
            JOIN market_listings AS l ON l.id = f.listing_id WHERE l.seller_account_id = :pool)
         + (SELECT coalesce(sum(sold_g), 0) FROM market_auctions WHERE seller_account_id = :pool)"""
