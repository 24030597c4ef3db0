"""Celery tasks of the coupon side."""
from celery import shared_task

from config.db_types import utcnow
from config.extensions import db
from merchants.coupons import expire_due


@shared_task(name="merchants.expire_coupons", ignore_result=True)
def expire_coupons() -> int:
    """Expire every coupon past its date, returning each price to its resident exactly once."""
    total = 0
    while True:
        expired = expire_due(now=utcnow())
        db.session.commit()
        if not expired:
            return total
        total += expired
