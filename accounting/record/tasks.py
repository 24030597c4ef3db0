"""Celery tasks of the record."""
from celery import shared_task

from accounting.record.sources import forget_expired_signatures
from config.db_types import utcnow
from config.extensions import db


@shared_task(name="record.forget_expired_signatures", ignore_result=True)
def forget_signatures() -> int:
    """Drop the replay guard's signatures whose timestamps could no longer be accepted."""
    forgotten = forget_expired_signatures(utcnow())
    db.session.commit()
    return forgotten
