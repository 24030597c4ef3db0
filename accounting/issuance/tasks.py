"""Celery tasks of issuance: the daily run and issuing a batch an auditor approved."""
from datetime import date, timedelta

from celery import shared_task
from flask import current_app

from accounting.business_day import shanghai_day
from accounting.issuance import batches
from accounting.ledger.tasks import seal_audit_log
from config.db_types import utcnow
from config.extensions import db


def yesterday() -> date:
    return shanghai_day(utcnow()) - timedelta(days=1)


def run_issuance_day(day: date, *, actor_id: int | None = None) -> dict:
    """Propose the day's batches and issue those approved automatically (one commit), then issue
    each batch of the day an auditor approved earlier in its own commit."""
    proposed = batches.propose_batches(
        day, actor_id=actor_id, auto_approve_max_g=current_app.config["ISSUANCE_AUTO_APPROVE_MAX_G"],
        issue_approved=True)
    db.session.commit()
    issued = [batch.id for batch in proposed if batch.status == "issued"]
    for batch_id in batches.batches_to_issue(day):
        batches.issue_batch(batch_id, actor_id=actor_id)
        db.session.commit()
        issued.append(batch_id)
    return {"day": day.isoformat(), "proposed": [b.id for b in proposed], "issued": issued}


@shared_task(name="registry.issue_day", ignore_result=True)
def issue_day(day_iso: str | None = None) -> dict:
    """签发 for one Asia/Shanghai day (yesterday by default); safe to run again."""
    result = run_issuance_day(date.fromisoformat(day_iso) if day_iso else yesterday())
    seal_audit_log()
    return result


@shared_task(name="registry.issue_batch", ignore_result=True)
def issue_approved_batch(batch_id: int) -> None:
    """Issue one approved batch (after an auditor's approval commits)."""
    batches.issue_batch(batch_id, actor_id=None)
    db.session.commit()
    seal_audit_log()


@shared_task(name="registry.sweep_issuance", ignore_result=True)
def sweep_issuance() -> dict:
    """Issue what a lost task or a missed daily run left: approved batches never issued, and past
    days with verified reductions in no batch. Safe to run at any time, and again."""
    issued = []
    for batch_id in batches.batches_to_issue():
        batches.issue_batch(batch_id, actor_id=None)
        db.session.commit()
        issued.append(batch_id)
    now = utcnow()
    days = batches.days_to_catch_up(shanghai_day(now), now)
    db.session.commit()
    caught_up = [run_issuance_day(day) for day in days]
    if issued or caught_up:
        seal_audit_log()
    return {"issued": issued, "days": [day["day"] for day in caught_up]}
