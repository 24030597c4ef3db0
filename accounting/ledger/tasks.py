"""Celery tasks of the ledger: sealing the audit log."""
from celery import shared_task
from flask import current_app

from accounting.ledger import audit, checkpoints
from config.db_types import utcnow
from config.extensions import db


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
