"""签发: proposing a day's issuance batches, approving them, and issuing serial blocks.

Everything is set-based: a batch of a million reductions is a handful of statements.
Proposing fixes which reductions a batch holds (each reduction in one batch at most,
invariant 5) and what each account receives; issuing is one journal transaction, keyed
by the batch, so re-running a day, or a worker killed mid-way, never issues twice.
"""
from datetime import date, timedelta

from sqlalchemy import func, insert, select, text, update

from accounting.business_day import day_start
from accounting.errors import Conflict, NotFound
from accounting.issuance.models import BatchLine, IssuanceBatch
from accounting.ledger import audit, movement
from accounting.ledger.idempotency import internal
from accounting.ledger.serials import batch_prefix
from accounting.quantification.models import Methodology, MethodologyVersion
from accounting.record.models import GreenEvent
from config.db_types import utcnow
from config.extensions import db

EVENTS, LINES, BATCHES = GreenEvent.__table__, BatchLine.__table__, IssuanceBatch.__table__
ISSUANCE_LOCK = 7_303_000


def _lock_day(day: date) -> None:
    """Proposals for one day run one at a time (a second run waits, then finds nothing new)."""
    db.session.execute(select(func.pg_advisory_xact_lock(ISSUANCE_LOCK, day.toordinal())))


def of_day(day: date) -> list:
    """Events that happened on `day` (Asia/Shanghai): a batch's are all of its vintage, so this names
    the one month (partition) that holds them."""
    return [EVENTS.c.started_at >= day_start(day), EVENTS.c.started_at < day_start(day + timedelta(days=1))]


def _unbatched(day: date, version_id: int | None = None):
    """Verified reductions of the day not in any batch yet."""
    conditions = [EVENTS.c.status.in_(("quantified", "capped")), EVENTS.c.issuance_batch_id.is_(None),
                  EVENTS.c.reduction_g > 0, *of_day(day)]
    if version_id is not None:
        conditions.append(EVENTS.c.methodology_version_id == version_id)
    return conditions


def propose_batches(day: date, *, actor_id: int | None, auto_approve_max_g: int,
                    issue_approved: bool = False) -> list[IssuanceBatch]:
    """One batch per methodology version with unbatched reductions on `day` (Asia/Shanghai).

    With `issue_approved`, a batch approved automatically is issued at once, in this same
    transaction, and its reductions are marked issued by the one statement that assigns them
    to it (instead of a second pass over them when it is issued).
    """
    _lock_day(day)
    pending = db.session.execute(
        select(EVENTS.c.methodology_version_id, func.sum(EVENTS.c.reduction_g))
        .where(*_unbatched(day)).group_by(EVENTS.c.methodology_version_id)).all()
    return [_propose(day, version_id, actor_id, auto_approve_max_g,
                     issue_now=issue_approved and int(grams) <= auto_approve_max_g)
            for version_id, grams in sorted(pending)]


def _propose(day: date, version_id: int, actor_id: int | None, auto_approve_max_g: int,
             issue_now: bool = False) -> IssuanceBatch:
    code, number = db.session.execute(
        select(Methodology.code, MethodologyVersion.version).join(Methodology)
        .where(MethodologyVersion.id == version_id)).one()
    batch_no = 1 + (db.session.scalar(select(func.max(IssuanceBatch.batch_no)).where(
        IssuanceBatch.methodology_version_id == version_id, IssuanceBatch.vintage == day)) or 0)
    batch = IssuanceBatch(
        methodology_version_id=version_id, vintage=day, batch_no=batch_no, status="proposed",
        serial_prefix=batch_prefix(code, number, day, batch_no),
        quantity_g=0, capped_g=0, accounts_count=0, events_count=0, proposed_by=actor_id, proposed_at=utcnow())
    db.session.add(batch)
    db.session.flush()
    if issue_now:
        # The estimate said it is approved automatically; if reductions quantified since then
        # push it over the limit, the marking is undone and it waits for an auditor after all.
        savepoint = db.session.begin_nested()
        totals = _assign_events(batch.id, day, version_id, mark_issued=True)
        if totals[1] > auto_approve_max_g:
            savepoint.rollback()
            issue_now = False
            totals = _assign_events(batch.id, day, version_id, mark_issued=False)
        else:
            savepoint.commit()
    else:
        totals = _assign_events(batch.id, day, version_id, mark_issued=False)
    batch.events_count, batch.quantity_g, batch.capped_g, batch.accounts_count = totals
    if batch.quantity_g <= auto_approve_max_g:
        batch.status, batch.auto_approved, batch.approved_at = "approved", True, utcnow()
        batch.decision_note = f"auto-approved: {batch.quantity_g} g ≤ {auto_approve_max_g} g"
    db.session.flush()
    audit.record(audit.actor_label(actor_id), "batch_proposed", f"batch:{batch.serial_prefix}", {
        "quantity_g": batch.quantity_g, "events": batch.events_count, "accounts": batch.accounts_count,
        "auto_approved": batch.auto_approved})
    if issue_now:
        _issue(batch, actor_id, mark_events=False)
    return batch


def _assign_events(batch_id: int, day: date, version_id: int, *, mark_issued: bool) -> tuple[int, int, int, int]:
    """Give the day's unbatched reductions of a version to the batch (and, if `mark_issued`, mark
    them issued), write its lines, and return (events, quantity_g, capped_g, accounts)."""
    values = {"issuance_batch_id": batch_id} | ({"status": "issued"} if mark_issued else {})
    assign = update(EVENTS).where(*_unbatched(day, version_id)).values(values)
    # One pass over the reductions: the lines and totals come from the rows it assigned.
    assigned = assign.returning(EVENTS.c.account_id, EVENTS.c.reduction_g, EVENTS.c.capped_g).cte("assigned")
    lines = insert(LINES).from_select(
        ["batch_id", "account_id", "quantity_g"],
        select(text(str(batch_id)), assigned.c.account_id, func.sum(assigned.c.reduction_g))
        .group_by(assigned.c.account_id)).returning(LINES.c.account_id).cte("lines")
    totals = db.session.execute(select(
        func.count(), func.coalesce(func.sum(assigned.c.reduction_g), 0),
        func.coalesce(func.sum(assigned.c.capped_g), 0),
        select(func.count()).select_from(lines).scalar_subquery())).one()
    return totals[0], int(totals[1]), int(totals[2]), totals[3]


def batch(batch_id: int, *, lock: bool = False) -> IssuanceBatch:
    query = select(IssuanceBatch).where(IssuanceBatch.id == batch_id)
    found = db.session.scalar(query.with_for_update() if lock else query)
    if found is None:
        raise NotFound("batch_not_found")
    return found


def approve_batch(batch_id: int, actor_id: int, note: str | None = None) -> IssuanceBatch:
    """An auditor approves a proposed batch (not one they proposed themselves)."""
    found = batch(batch_id, lock=True)
    if found.status != "proposed":
        raise Conflict("batch_not_in_state", expected="proposed", actual=found.status)
    if found.proposed_by == actor_id:
        raise Conflict("approver_is_proposer")
    found.status, found.approved_by, found.approved_at, found.decision_note = "approved", actor_id, utcnow(), note
    audit.record(audit.actor_label(actor_id), "batch_approved", f"batch:{found.serial_prefix}", {"note": note})
    db.session.flush()
    return found


def reject_batch(batch_id: int, actor_id: int, note: str) -> IssuanceBatch:
    """Refuse a proposed batch; its reductions stay with it and are never issued."""
    found = batch(batch_id, lock=True)
    if found.status != "proposed":
        raise Conflict("batch_not_in_state", expected="proposed", actual=found.status)
    found.status, found.approved_by, found.decision_note = "rejected", actor_id, note
    audit.record(audit.actor_label(actor_id), "batch_rejected", f"batch:{found.serial_prefix}", {"note": note})
    db.session.flush()
    return found


def issue_batch(batch_id: int, *, actor_id: int | None) -> IssuanceBatch:
    """Create the batch's serial blocks, credit each account, and mark its reductions issued."""
    found = batch(batch_id, lock=True)
    if found.status == "issued":
        return found
    if found.status != "approved":
        raise Conflict("batch_not_in_state", expected="approved", actual=found.status)
    return _issue(found, actor_id, mark_events=True)


def _issue(found: IssuanceBatch, actor_id: int | None, *, mark_events: bool) -> IssuanceBatch:
    """Issue an approved batch whose row this transaction holds; `mark_events` False when its
    reductions were marked issued as they were assigned to it (propose_batches(issue_approved=True))."""
    lines = db.session.execute(select(LINES.c.account_id, LINES.c.quantity_g)
                               .where(LINES.c.batch_id == found.id).order_by(LINES.c.account_id)).all()
    # Serials 1..quantity laid end to end over the lines, by account id (invariant 4).
    transaction_id, replayed = movement.issue(
        found.id, [tuple(line) for line in lines], internal("issuance", f"batch:{found.id}"), actor_id=actor_id,
        memo=found.serial_prefix, audit=movement.Audit(actor=audit.actor_label(actor_id),
                                                       subject=f"batch:{found.serial_prefix}"))
    if replayed:  # cannot happen while the batch row is locked and not issued; kept as a guard
        raise Conflict("batch_issued_elsewhere")
    if mark_events:
        db.session.execute(update(EVENTS).where(EVENTS.c.issuance_batch_id == found.id, *of_day(found.vintage))
                           .values(status="issued"))
    found.status, found.issued_at, found.transaction_id = "issued", utcnow(), transaction_id
    db.session.flush()
    return found


def batches_to_issue(day: date | None = None) -> list[int]:
    query = select(IssuanceBatch.id).where(IssuanceBatch.status == "approved").order_by(IssuanceBatch.id)
    if day is not None:
        query = query.where(IssuanceBatch.vintage == day)
    return list(db.session.scalars(query))


# A day the sweep issued (or the daily run did) is left alone this long: reductions of it quantified
# later wait for the next sweep, so late arrivals make one more batch a day, not one a minute.
CATCH_UP_PAUSE = timedelta(hours=20)


def days_to_catch_up(today: date, now) -> list[date]:
    """Past days with verified reductions in no batch, none of whose batches is recent: what a missed
    or failed daily run left (and what arrived for a day after its run)."""
    shanghai_day = func.date(func.timezone("Asia/Shanghai", EVENTS.c.started_at))
    recent = (select(BATCHES.c.id).where(BATCHES.c.vintage == shanghai_day,
                                         BATCHES.c.proposed_at > now - CATCH_UP_PAUSE).exists())
    query = (select(shanghai_day).distinct()
             .where(EVENTS.c.status.in_(("quantified", "capped")), EVENTS.c.issuance_batch_id.is_(None),
                    EVENTS.c.reduction_g > 0, EVENTS.c.started_at < day_start(today), ~recent)
             .order_by(shanghai_day))
    return list(db.session.scalars(query))
