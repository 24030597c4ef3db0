"""Celery tasks of the record."""
from celery import shared_task
from flask import current_app

from accounting.record.archive import ensure_partitions
from accounting.record.sources import forget_expired_signatures
from config.db_types import utcnow
from config.extensions import db


@shared_task(name="record.forget_expired_signatures", ignore_result=True)
def forget_signatures() -> int:
    """Drop the replay guard's signatures whose timestamps could no longer be accepted."""
    forgotten = forget_expired_signatures(utcnow())
    db.session.commit()
    return forgotten


@shared_task(name="record.ensure_event_partitions", ignore_result=True)
def ensure_event_partitions() -> list[str]:
    """Create green events' months ahead (EVENT_PARTITIONS_AHEAD), through the owner's function."""
    created = ensure_partitions(db.session, current_app.config["EVENT_PARTITIONS_AHEAD"])
    db.session.commit()
    return created
