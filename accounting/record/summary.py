"""A personal carbon account (个人碳账户) as its resident sees it."""
from sqlalchemy import func, select

from accounting.ledger.history import account_totals
from accounting.ledger.models import Account
from accounting.record.models import GreenEvent
from config.extensions import db


def account_summary(account: Account) -> dict:
    """Balance, what waits for issuance, what was issued, spent, retired."""
    pending = db.session.scalar(
        select(func.coalesce(func.sum(GreenEvent.reduction_g), 0))
        .where(GreenEvent.account_id == account.id, GreenEvent.status.in_(("quantified", "capped"))))
    return {"number": account.number, "balance_g": account.balance_g, "pending_g": int(pending),
            "frozen": account.frozen_at is not None, **account_totals(account.id)}
