"""Celery tasks of the ledger: sealing the audit log."""
from celery import shared_task

from accounting.ledger import audit
from config.extensions import db


@shared_task(name="registry.seal_audit_log", ignore_result=True)
def seal_audit_log() -> int:
    """Chain every unsealed audit record, a block at a time."""
    total = 0
    while True:
        sealed = audit.seal_pending()
        db.session.commit()
        if not sealed:
            return total
        total += sealed
