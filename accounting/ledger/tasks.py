"""Celery tasks of the ledger: sealing the audit log, the daily verification."""
import logging

from celery import shared_task
from flask import current_app

from accounting.ledger import audit, checkpoints
from config.db_types import utcnow
from config.extensions import db

log = logging.getLogger(__name__)


@shared_task(name="registry.seal_audit_log", ignore_result=True)
def seal_audit_log() -> int:
    """Chain every unsealed audit record, a block at a time; each block's head is written down
    outside the database once it is committed."""
    total = 0
    while True:
        head = audit.seal_pending()
        db.session.commit()
        if head is None:
            return total
        checkpoints.append(current_app.config["AUDIT_CHECKPOINT_DIR"], head.seq, head.hash, utcnow())
        total += head.count


@shared_task(name="registry.verify", ignore_result=True)
def verify_registry_daily() -> bool:
    """The daily `registry verify` (beat, REGISTRY_VERIFY_AT): seal what is pending, check every
    invariant, record the run; a failure is logged for the operators and public on /public."""
    from accounting.ledger.verify import verify_and_record

    seal_audit_log()
    _report, run = verify_and_record("beat")
    db.session.commit()
    if not run.ok:
        log.error("registry verification failed: %s", "; ".join(run.failed))
    return run.ok
