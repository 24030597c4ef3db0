"""Orders: an enterprise buys from open listings, cheapest then oldest, paying as the credits
move (delivery versus payment), in one call of the ledger's `market_order`."""
from dataclasses import dataclass

from flask import current_app
from sqlalchemy import select

from accounting.ledger import audit
from accounting.ledger.accounts import system_account_id
from accounting.ledger.idempotency import Idempotency
from accounting.ledger.models import Retirement
from accounting.ledger.movement import call_ledger
from accounting.ledger.retirements import new_retirement_number
from accounting.ledger.serials import serial_range
from accounting.market.models import Fill, Listing, Order
from config.db_types import utcnow
from config.extensions import db

PLACE = (
    "SELECT order_id, replayed, transaction_id, filled_g, cost_fen, fee_fen FROM market_order(p_scope => %(scope)s, p_key => %(key)s, "
    "p_request_hash => %(request_hash)s, p_actor_id => %(actor_id)s, p_buyer => %(buyer)s, "
    "p_quantity => %(quantity)s, p_max_price => %(max_price)s, p_listing => %(listing)s, "
    "p_all_or_none => %(all_or_none)s, p_retire_to => %(retire_to)s, p_fees => %(fees)s, "
    "p_fee_bp => %(fee_bp)s, p_audit_actor => %(audit_actor)s, p_at => %(at)s)"
)


@dataclass(frozen=True)
class Placed:
    """An order as placing it answers (the ledger's own figures: no second query while the
    listings it filled from are still locked)."""

    id: int
    transaction_id: int
    filled_g: int
    cost_fen: int
    fee_fen: int


@dataclass(frozen=True)
class Retire:
    """Retire what the order buys, in the same transaction, for this beneficiary and purpose."""

    beneficiary: str
    purpose: str


def place(buyer_account_id: int, quantity_g: int, max_price_fen_per_t: int, idempotency: Idempotency, *,
          listing_id: int | None = None, all_or_none: bool = False, retire: Retire | None = None,
          actor_id: int | None) -> tuple[Placed, bool]:
    """(the order, whether it is a replay of the first with this key)."""
    row = call_ledger(PLACE, {
        "scope": idempotency.scope, "key": idempotency.key, "request_hash": idempotency.request_hash,
        "actor_id": actor_id, "buyer": buyer_account_id, "quantity": quantity_g, "max_price": max_price_fen_per_t,
        "listing": listing_id, "all_or_none": all_or_none,
        "retire_to": system_account_id("retirement") if retire else None, "fees": system_account_id("fees"),
        "fee_bp": current_app.config["MARKET_FEE_BP"], "audit_actor": audit.actor_label(actor_id),
        "at": utcnow()})[0]
    order, replayed = Placed(row[0], *row[2:]), row[1]
    if retire is not None and not replayed:
        certificate = Retirement(number=new_retirement_number(), account_id=buyer_account_id, amount_g=order.filled_g,
                                 beneficiary=retire.beneficiary, purpose=retire.purpose,
                                 transaction_id=order.transaction_id)
        db.session.add(certificate)
        db.session.flush()
        audit.record(audit.actor_label(actor_id), "retirement_certified", f"retirement:{certificate.number}",
                     {"number": certificate.number, "beneficiary": retire.beneficiary, "purpose": retire.purpose,
                      "amount_g": order.filled_g, "order": order.id})
        db.session.flush()
    return order, replayed


FILL_SERIALS = (
    "SELECT f.id, i.serial_prefix, m.first_serial, m.last_serial FROM market_fills AS f "
    "JOIN market_orders AS o ON o.id = f.order_id JOIN market_listings AS l ON l.id = f.listing_id "
    "JOIN block_movements AS m ON m.transaction_id = o.transaction_id AND m.from_account_id = l.escrow_account_id "
    "JOIN credit_blocks AS b ON b.id = m.block_id JOIN issuance_batches AS i ON i.id = b.batch_id "
    "WHERE o.id = :order ORDER BY f.id, b.batch_id, m.first_serial"
)


def order_view(order: Order) -> dict:
    """An order as its buyer sees it: each fill with the serials it delivered."""
    serials: dict[int, list[str]] = {}
    for fill_id, prefix, first, last in db.session.execute(db.text(FILL_SERIALS), {"order": order.id}):
        serials.setdefault(fill_id, []).append(serial_range(prefix, first, last))
    fills = db.session.scalars(select(Fill).where(Fill.order_id == order.id).order_by(Fill.id)).all()
    retirement = (db.session.scalar(select(Retirement).where(Retirement.transaction_id == order.transaction_id))
                  if order.retired else None)
    return {
        "id": order.id, "quantity_g": order.quantity_g, "filled_g": order.filled_g, "cost_fen": order.cost_fen,
        "fee_fen": order.fee_fen, "retired": order.retired, "created_at": order.created_at,
        "fills": [{"listing_id": f.listing_id, "quantity_g": f.quantity_g, "price_fen_per_t": f.price_fen_per_t,
                   "amount_fen": f.amount_fen, "fee_fen": f.fee_fen, "serials": serials.get(f.id, [])}
                  for f in fills],
        "retirement_number": retirement.number if retirement else None,
    }


def order(order_id: int) -> Order | None:
    return db.session.get(Order, order_id)


def open_listings_query():
    return select(Listing).where(Listing.status == "open").order_by(Listing.price_fen_per_t, Listing.id)
