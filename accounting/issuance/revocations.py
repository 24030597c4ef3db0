"""管理: revoking a range of a batch's serial numbers (fraud found after issuance).

What holders still have of the range moves to the revocation account, revoked, one movement
per holder; what was already retired or revoked is reported, not touched (invariant 6).
Frozen accounts are revoked from too, and so are credits standing listed or at auction on the
market: the listing or auction then offers only what is left.
"""
from sqlalchemy import and_, func, literal, select, text

from accounting.errors import DomainError, NotFound
from accounting.issuance.models import IssuanceBatch
from accounting.ledger import audit
from accounting.ledger.accounts import system_account_id
from accounting.ledger.idempotency import Idempotency
from accounting.ledger.models import BLOCK_SERIALS, CreditBlock, JournalTransaction
from accounting.ledger.movement import Audit, Within, lock_accounts, move, ranges_of
from config.db_types import utcnow
from config.extensions import db

# Units revoked out of a listing's escrow are no longer on offer: its remainder shrinks (one left
# with nothing closes, cancelled), so the escrow still holds what the listing owes (invariant 10)
# and orders and a cancel never reach for units that are gone. SQL on the market's table: the
# market sits above issuance and is not imported here. An account that is no open listing's
# escrow matches no row.
LOCK_LISTINGS = text("SELECT id FROM market_listings WHERE escrow_account_id = ANY(:escrows) AND status = 'open' "
                     "ORDER BY price_fen_per_t, id FOR UPDATE")
# Likewise an auction not yet cleared (its row before the accounts, as clearing locks it): its
# quantity shrinks, to zero if every unit went, and it clears with what is left.
LOCK_AUCTIONS = text("SELECT id FROM market_auctions WHERE escrow_account_id = ANY(:escrows) "
                     "AND cleared_at IS NULL ORDER BY id FOR UPDATE")
SHRINK_AUCTION = text("UPDATE market_auctions SET quantity_g = quantity_g - :revoked "
                      "WHERE escrow_account_id = :escrow AND cleared_at IS NULL")
SHRINK_LISTING = text("""
    UPDATE market_listings SET remaining_g = remaining_g - :revoked,
        status = CASE WHEN remaining_g = :revoked THEN 'cancelled' ELSE status END,
        closed_at = CASE WHEN remaining_g = :revoked THEN :now ELSE closed_at END
    WHERE escrow_account_id = :escrow AND status = 'open'""")


def revoke_range(serial_prefix: str, first: int, last: int, reason: str, idempotency: Idempotency, *,
                 actor_id: int) -> dict:
    """Revoke units first..last of a batch; a replay with the key answers as the first call did."""
    batch = db.session.scalar(select(IssuanceBatch).where(IssuanceBatch.serial_prefix == serial_prefix))
    if batch is None or first < 1 or last < first:
        raise NotFound("serial_not_found")
    in_range = and_(CreditBlock.batch_id == batch.id, CreditBlock.status != "split",
                    BLOCK_SERIALS.op("&&")(func.int8range(first, last, literal("[]"))))
    earlier = _revocations_keyed(idempotency)
    if earlier:  # invariant 7: a replay answers as the first call did; another request is refused
        if any(t.request_hash != idempotency.request_hash for t in earlier):
            raise DomainError("idempotency_key_reused")
        return _first_answer(batch.serial_prefix, first, last, in_range, earlier)
    revocation_id = system_account_id("revocation")
    # Lock the range's holders before trusting what they hold: units moved on between an unlocked
    # read and the lock would leave a holder with nothing to revoke (an empty movement, refused)
    # and their new holder's units unrevoked. Read again until every holder read is locked.
    locked: set[int] = set()
    while True:
        pieces = db.session.execute(select(CreditBlock.account_id, CreditBlock.status, CreditBlock.first_serial,
                                           CreditBlock.last_serial).where(in_range)).all()
        holders = {p.account_id for p in pieces if p.status == "active"}
        if holders <= locked:
            break
        # Listings before accounts, cheapest then oldest: the order an order locks them in.
        db.session.execute(LOCK_LISTINGS, {"escrows": sorted(holders - locked)})
        db.session.execute(LOCK_AUCTIONS, {"escrows": sorted(holders - locked)})
        locked |= holders
        lock_accounts(locked | {revocation_id})
    not_moved = _final_units(pieces, first, last)
    revoked, transactions = 0, []
    for account_id in sorted(holders):
        moved = move("revoke", account_id, revocation_id, None, idempotency.for_part(str(account_id)),
                     actor_id=actor_id, memo=reason[:200], status="revoked", within=Within(batch.id, first, last),
                     sender_may_be_frozen=True,
                     audit=Audit(actor=audit.actor_label(actor_id), subject=f"batch:{batch.serial_prefix}",
                                 payload={"reason": reason}))
        revoked += moved.amount_g
        transactions.append(moved.transaction_id)
        db.session.execute(SHRINK_LISTING, {"escrow": account_id, "revoked": moved.amount_g, "now": utcnow()})
        db.session.execute(SHRINK_AUCTION, {"escrow": account_id, "revoked": moved.amount_g})
    return {"batch": batch.serial_prefix, "first": first, "last": last, "revoked_g": revoked,
            "not_moved_g": not_moved, "transactions": transactions}


def _final_units(pieces, first: int, last: int) -> dict[str, int]:
    """Units of the range already retired or revoked, by status."""
    final: dict[str, int] = {}
    for piece in pieces:
        if piece.status in ("retired", "revoked"):
            final[piece.status] = final.get(piece.status, 0) + min(piece.last_serial, last) - max(
                piece.first_serial, first) + 1
    return final


def _revocations_keyed(idempotency: Idempotency) -> list[JournalTransaction]:
    """The per-holder transactions an earlier revocation with this key made (key:holder)."""
    return list(db.session.scalars(select(JournalTransaction).where(
        JournalTransaction.kind == "revoke", JournalTransaction.idempotency_scope == idempotency.scope,
        JournalTransaction.idempotency_key.startswith(f"{idempotency.key}:", autoescape=True))
        .order_by(JournalTransaction.id)))


def _first_answer(prefix: str, first: int, last: int, in_range, earlier: list[JournalTransaction]) -> dict:
    """What the first call answered: its own revocations, and what it found retired or revoked."""
    revoked = sum(r.units for t in earlier for r in ranges_of(t.id))
    pieces = db.session.execute(select(CreditBlock.status, CreditBlock.first_serial, CreditBlock.last_serial)
                                .where(in_range, CreditBlock.status.in_(("retired", "revoked")))).all()
    not_moved = _final_units(pieces, first, last)
    not_moved["revoked"] = not_moved.get("revoked", 0) - revoked  # those are the first call's own
    return {"batch": prefix, "first": first, "last": last, "revoked_g": revoked,
            "not_moved_g": {status: grams for status, grams in not_moved.items() if grams},
            "transactions": [t.id for t in earlier]}
