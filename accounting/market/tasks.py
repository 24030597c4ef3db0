"""The market's beat tasks: listings past their expiry return their remainder; auctions past
their close clear (an auditor may also clear one by hand)."""
from celery import shared_task

from accounting.market import auctions, listings
from config.db_types import utcnow
from config.extensions import db


@shared_task(name="market.expire_listings", ignore_result=True)
def expire_listings() -> int:
    total = 0
    while expired := listings.expire_due(utcnow()):
        db.session.commit()
        total += expired
    return total


@shared_task(name="market.clear_auctions", ignore_result=True)
def clear_auctions() -> int:
    total = 0
    while cleared := auctions.clear_due(utcnow()):
        db.session.commit()
        total += cleared
    db.session.rollback()
    return total
