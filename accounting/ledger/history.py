"""An account's history as its holder reads it: totals by kind of movement, and its movements
newest first with the serial ranges each moved."""
from sqlalchemy import case, func, select, text

from accounting.ledger.models import JournalEntry, JournalTransaction
from accounting.ledger.serials import serial_range
from config.extensions import db


def account_totals(account_id: int) -> dict:
    """issued_total_g, spent_g (sent away), retired_g of an account, from its journal entries."""
    incoming = case((JournalEntry.amount_g > 0, JournalEntry.amount_g), else_=0)
    outgoing = case((JournalEntry.amount_g < 0, -JournalEntry.amount_g), else_=0)
    rows = db.session.execute(
        select(JournalTransaction.kind, func.sum(incoming), func.sum(outgoing))
        .join(JournalTransaction, JournalTransaction.id == JournalEntry.transaction_id)
        .where(JournalEntry.account_id == account_id).group_by(JournalTransaction.kind)).all()
    by_kind = {kind: (int(received or 0), int(sent or 0)) for kind, received, sent in rows}
    return {
        "issued_total_g": by_kind.get("issue", (0, 0))[0],
        "spent_g": sum(sent for kind, (_, sent) in by_kind.items() if kind in ("transfer", "claim")),
        "retired_g": by_kind.get("retire", (0, 0))[1],
        "revoked_g": by_kind.get("revoke", (0, 0))[1],
        "donated_g": by_kind.get("donate", (0, 0))[1],
    }


def movements_of(account_id: int, *, limit: int, before_id: int | None = None) -> list[dict]:
    """An account's journal entries, newest first, with the serial ranges each moved."""
    query = (select(JournalEntry.id, JournalEntry.amount_g, JournalEntry.transaction_id, JournalTransaction.kind,
                    JournalTransaction.created_at, JournalTransaction.memo)
             .join(JournalTransaction).where(JournalEntry.account_id == account_id))
    if before_id is not None:
        query = query.where(JournalEntry.id < before_id)
    entries = db.session.execute(query.order_by(JournalEntry.id.desc()).limit(limit)).all()
    ranges = _ranges_for(account_id, [e.transaction_id for e in entries])
    return [{"id": e.id, "type": e.kind, "amount_g": e.amount_g, "transaction_id": e.transaction_id,
             "at": e.created_at, "memo": e.memo, "serials": ranges.get(e.transaction_id, [])} for e in entries]


# Blocks name their batch by id; the serial prefix is the batch's (issuance_batches, named in SQL:
# the ledger never imports what sits above it).
RANGES_FOR = text(
    "SELECT m.transaction_id, i.serial_prefix, m.first_serial, m.last_serial FROM block_movements AS m "
    "JOIN credit_blocks AS b ON b.id = m.block_id JOIN issuance_batches AS i ON i.id = b.batch_id "
    "WHERE m.transaction_id = ANY(:transactions) AND (m.from_account_id = :account OR m.to_account_id = :account) "
    "ORDER BY b.batch_id, m.first_serial")


def _ranges_for(account_id: int, transaction_ids: list[int]) -> dict[int, list[str]]:
    if not transaction_ids:
        return {}
    found: dict[int, list[str]] = {}
    for transaction_id, prefix, first, last in db.session.execute(
            RANGES_FOR, {"transactions": transaction_ids, "account": account_id}):
        found.setdefault(transaction_id, []).append(serial_range(prefix, first, last))
    return found
