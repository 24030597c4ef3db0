"""Tracing units: from a serial number back to its batch, holders and the actions behind it,
and an account's own movements."""
import re

from sqlalchemy import case, func, or_, select

from accounting.errors import NotFound
from accounting.models import (
    Account, BlockMovement, CreditBlock, GreenEvent, IssuanceBatch, JournalEntry, JournalTransaction,
)
from config.extensions import db

SERIAL = re.compile(r"^(BZ-[A-Z0-9]+-\d{8}-\d{4})-(\d{9})$")


def parse_serial(serial: str) -> tuple[str, int]:
    match = SERIAL.match(serial or "")
    if not match:
        raise NotFound("serial_not_found")
    return match.group(1), int(match.group(2))


def trace_unit(serial: str) -> dict:
    """The batch, the block holding the unit now, every holder in order, and the event behind it."""
    prefix, number = parse_serial(serial)
    batch = db.session.scalar(select(IssuanceBatch).where(IssuanceBatch.serial_prefix == prefix))
    if batch is None or not 1 <= number <= batch.quantity_g or batch.status != "issued":
        raise NotFound("serial_not_found")
    block = db.session.scalar(select(CreditBlock).where(
        CreditBlock.batch_id == batch.id, CreditBlock.status != "split",
        CreditBlock.first_serial <= number, CreditBlock.last_serial >= number))
    lineage = _lineage(block)
    holders = db.session.execute(
        select(JournalTransaction.id, JournalTransaction.kind, JournalTransaction.created_at,
               BlockMovement.to_account_id, Account.number, Account.kind)
        .join(BlockMovement, BlockMovement.transaction_id == JournalTransaction.id)
        .join(Account, Account.id == BlockMovement.to_account_id)
        .where(BlockMovement.block_id.in_([b.id for b in lineage])).order_by(JournalTransaction.id)
    ).all()
    root = lineage[-1]
    return {
        "serial": serial, "batch": batch, "block": block,
        "holders": [{"transaction_id": h[0], "type": h[1], "at": h[2], "account_number": h[4],
                     "account_kind": h[5]} for h in holders],
        "event": _event_behind(batch.id, root.account_id, root.first_serial, number),
    }


def _lineage(block: CreditBlock) -> list[CreditBlock]:
    """The block and the blocks it was split from, newest first."""
    chain = [block]
    while chain[-1].parent_id is not None:
        chain.append(db.session.get(CreditBlock, chain[-1].parent_id))
    return chain


def _event_behind(batch_id: int, account_id: int, first_serial: int, number: int) -> GreenEvent:
    """Units of an account's line are its reductions laid end to end in event order."""
    offset = number - first_serial
    running = 0
    events = db.session.scalars(select(GreenEvent).where(
        GreenEvent.issuance_batch_id == batch_id, GreenEvent.account_id == account_id).order_by(GreenEvent.id))
    for event in events:
        running += event.reduction_g
        if offset < running:
            return event
    raise NotFound("serial_not_found")  # only reachable if the registry is inconsistent


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


def _ranges_for(account_id: int, transaction_ids: list[int]) -> dict[int, list[str]]:
    if not transaction_ids:
        return {}
    rows = db.session.execute(
        select(BlockMovement.transaction_id, IssuanceBatch.serial_prefix, CreditBlock.first_serial,
               CreditBlock.last_serial)
        .join(CreditBlock, CreditBlock.id == BlockMovement.block_id)
        .join(IssuanceBatch, IssuanceBatch.id == CreditBlock.batch_id)
        .where(BlockMovement.transaction_id.in_(transaction_ids),
               or_(BlockMovement.from_account_id == account_id, BlockMovement.to_account_id == account_id))
        .order_by(CreditBlock.batch_id, CreditBlock.first_serial)).all()
    found: dict[int, list[str]] = {}
    for transaction_id, prefix, first, last in rows:
        found.setdefault(transaction_id, []).append(f"{prefix}-{first:09d}-{last:09d}")
    return found
