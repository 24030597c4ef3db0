"""Opening personal carbon accounts (个人碳账户) and reading their figures."""
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from accounting.account_numbers import new_account_number
from accounting.errors import NotFound
from accounting.models import Account, GreenEvent, Holder
from accounting.trace import account_totals
from config.extensions import db

NUMBER_ATTEMPTS = 5


def open_resident_account(district: str | None = None) -> Account:
    """A new resident holder and its account with a fresh public number."""
    holder = Holder(kind="resident", district=district)
    db.session.add(holder)
    db.session.flush()
    for _ in range(NUMBER_ATTEMPTS):
        account = Account(number=new_account_number(), kind="holder", holder_id=holder.id, balance_g=0)
        try:
            with db.session.begin_nested():  # a number collision retries without losing the holder
                db.session.add(account)
        except IntegrityError:
            continue
        return account
    raise RuntimeError("could not draw a free account number")  # 10^9 numbers: not expected


def account_of_holder(holder_id: int) -> Account:
    account = db.session.scalar(select(Account).where(Account.holder_id == holder_id))
    if account is None:
        raise NotFound("account_not_found")
    return account


def account_by_number(number: str) -> Account:
    account = db.session.scalar(select(Account).where(Account.number == number, Account.kind == "holder"))
    if account is None:
        raise NotFound("account_not_found")
    return account


def account_summary(account: Account) -> dict:
    """The figures a resident sees: balance, what waits for issuance, what was issued, spent, retired."""
    pending = db.session.scalar(
        select(func.coalesce(func.sum(GreenEvent.reduction_g), 0))
        .where(GreenEvent.account_id == account.id, GreenEvent.status.in_(("quantified", "capped"))))
    return {"number": account.number, "balance_g": account.balance_g, "pending_g": int(pending),
            "frozen": account.frozen_at is not None, **account_totals(account.id)}
