"""A personal carbon account (个人碳账户) as its resident sees it."""
from sqlalchemy import func, or_, select

from accounting.issuance.models import IssuanceBatch
from accounting.ledger.history import account_totals
from accounting.ledger.models import Account
from accounting.record.models import GreenEvent
from config.extensions import db

# Reductions wait for issuance while they are in no batch yet or in one still proposed or approved.
# A rejected batch keeps its reductions (quantified, as they were) and never issues them: they are
# not pending, however long they stay; an issued batch's are marked issued and are in the balance.
WAITING_BATCH_STATUSES = ("proposed", "approved")


def account_summary(account: Account) -> dict:
    """Balance, what waits for issuance, what was issued, spent, retired."""
    pending = db.session.scalar(
        select(func.coalesce(func.sum(GreenEvent.reduction_g), 0))
        .outerjoin(IssuanceBatch, IssuanceBatch.id == GreenEvent.issuance_batch_id)
        .where(GreenEvent.account_id == account.id, GreenEvent.status.in_(("quantified", "capped")),
               or_(GreenEvent.issuance_batch_id.is_(None), IssuanceBatch.status.in_(WAITING_BATCH_STATUSES))))
    return {"number": account.number, "balance_g": account.balance_g, "pending_g": int(pending),
            "frozen": account.frozen_at is not None, **account_totals(account.id)}
