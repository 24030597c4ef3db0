"""Tracing units: from a serial number back to its batch, holders and the actions behind it."""
from sqlalchemy import BigInteger, cast, select

from accounting.errors import NotFound
from accounting.issuance.batches import of_day
from accounting.issuance.models import IssuanceBatch
from accounting.ledger.models import BLOCK_SERIALS, Account, BlockMovement, CreditBlock, JournalTransaction
from accounting.ledger.serials import parse_unit
from accounting.record.models import EventArchive, EventArchiveBatch, GreenEvent
from config.extensions import db


def parse_serial(serial: str) -> tuple[str, int]:
    parsed = parse_unit(serial)
    if parsed is None:
        raise NotFound("serial_not_found")
    return parsed


def trace_unit(serial: str) -> dict:
    """The batch, the block holding the unit now, every holder in order, and the event behind it."""
    prefix, number = parse_serial(serial)
    batch = db.session.scalar(select(IssuanceBatch).where(IssuanceBatch.serial_prefix == prefix))
    if batch is None or not 1 <= number <= batch.quantity_g or batch.status != "issued":
        raise NotFound("serial_not_found")
    block = db.session.scalar(select(CreditBlock).where(
        CreditBlock.batch_id == batch.id, CreditBlock.status != "split",
        BLOCK_SERIALS.op("@>")(cast(number, BigInteger))))
    # Every movement that carried this unit, through the block and those it was cut from: each
    # movement records the serials it moved (a block's front may have been cut away since).
    holders = db.session.execute(
        select(JournalTransaction.id, JournalTransaction.kind, JournalTransaction.created_at,
               BlockMovement.to_account_id, Account.number, Account.kind, BlockMovement.first_serial)
        .join(BlockMovement, BlockMovement.transaction_id == JournalTransaction.id)
        .join(Account, Account.id == BlockMovement.to_account_id)
        .where(BlockMovement.block_id.in_([b.id for b in _lineage(block)]),
               BlockMovement.first_serial <= number, BlockMovement.last_serial >= number)
        .order_by(JournalTransaction.id)
    ).all()
    # The first is the issue: the units of the line it laid down went to the first holder.
    issue = holders[0]
    archived = archived_month_of_batch(batch.id)
    return {
        "serial": serial, "batch": batch, "block": block,
        "holders": [{"transaction_id": h[0], "type": h[1], "at": h[2], "account_number": h[4],
                     "account_kind": h[5]} for h in holders],
        # While the batch's month is archived its events are in a file, not here: say which.
        "event": None if archived else _event_behind(batch, issue.to_account_id, issue.first_serial, number),
        "events_archived": archived,
    }


def archived_month_of_batch(batch_id: int) -> dict | None:
    """The archived month holding a batch's events ({month, file_name}), or None if they are here."""
    found = db.session.execute(
        select(EventArchive.month, EventArchive.file_name)
        .join(EventArchiveBatch, EventArchiveBatch.month == EventArchive.month)
        .where(EventArchiveBatch.batch_id == batch_id, EventArchive.restored_at.is_(None))).first()
    return {"month": found.month.strftime("%Y-%m"), "file_name": found.file_name} if found else None


def _lineage(block: CreditBlock) -> list[CreditBlock]:
    """The block and the blocks it was cut or split from, newest first."""
    chain = [block]
    while chain[-1].parent_id is not None:
        chain.append(db.session.get(CreditBlock, chain[-1].parent_id))
    return chain


def _event_behind(batch: IssuanceBatch, account_id: int, first_serial: int, number: int) -> GreenEvent:
    """Units of an account's line are its reductions laid end to end in event order."""
    offset = number - first_serial
    running = 0
    events = db.session.scalars(select(GreenEvent).where(
        GreenEvent.issuance_batch_id == batch.id, GreenEvent.account_id == account_id,
        *of_day(batch.vintage)).order_by(GreenEvent.id))
    for event in events:
        running += event.reduction_g
        if offset < running:
            return event
    raise NotFound("serial_not_found")  # only reachable if the registry is inconsistent
