"""Holders' registry accounts (个人碳账户 and merchants'), the system accounts, and freezing (管理)."""
from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError

from accounting.errors import Conflict, NotFound
from accounting.ledger import audit
from accounting.ledger.account_numbers import new_account_number
from accounting.ledger.models import Account, Holder
from config.db_types import utcnow
from config.extensions import db

NUMBER_ATTEMPTS = 5
ACCOUNTS = Account.__table__
# Filed by the migrations; the issuance account is the only one that runs negative. The pool
# (碳普惠池) is the bureau's: residents donate to it, and its credits are sold on the market.
# `bank` and `fees` hold money only: the bank's is minus all money deposited and not paid out.
SYSTEM_NUMBERS = {"issuance": "SYSISSUANCE", "escrow": "SYSESCROW", "retirement": "SYSRETIRED",
                  "revocation": "SYSREVOKED", "pool": "SYSPOOL", "bank": "SYSBANK", "fees": "SYSFEES"}


def open_holder_account(kind: str, district: str | None = None) -> Account:
    """A new holder (resident, merchant, …) and its account with a fresh public number."""
    holder = Holder(kind=kind, district=district)
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


def open_resident_account(district: str | None = None) -> Account:
    return open_holder_account("resident", district)


def open_escrow_account(kind: str = "escrow") -> Account:
    """An escrow of its own (a merchant's; a listing's or an auction's, kind `market`): claims at
    different shops, orders on different listings, never queue on one row."""
    prefix = {"escrow": "ES", "market": "MK"}[kind]
    account = Account(number=prefix + new_account_number()[2:], kind=kind, holder_id=None, balance_g=0)
    db.session.add(account)
    db.session.flush()
    return account


def open_escrow_accounts(count: int) -> list[int]:
    """`count` escrow accounts (kind `escrow`) in one statement: their ids. A number drawn twice
    (10^9 of them) only retries the statement, under a savepoint."""
    for _ in range(NUMBER_ATTEMPTS):
        rows = [{"number": "ES" + new_account_number()[2:], "kind": "escrow", "holder_id": None, "balance_g": 0,
                 "created_at": utcnow()} for _ in range(count)]
        try:
            with db.session.begin_nested():
                return list(db.session.scalars(insert(ACCOUNTS).returning(ACCOUNTS.c.id), rows))
        except IntegrityError:
            continue
    raise RuntimeError("could not draw free account numbers")  # 10^9 numbers: not expected


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


_system_ids: dict[tuple[str, str], int] = {}


def system_account_id(kind: str) -> int:
    """The id of a system account (issuance, escrow, retirement, revocation), cached per database."""
    cache_key = (db.session.get_bind().url.render_as_string(), kind)
    if cache_key not in _system_ids:
        _system_ids[cache_key] = db.session.scalar(select(Account.id).where(Account.number == SYSTEM_NUMBERS[kind]))
    return _system_ids[cache_key]


def ensure_system_accounts(connection) -> None:
    """File the system accounts where missing (the migration does; tests after a truncate)."""
    existing = set(connection.execute(select(ACCOUNTS.c.number).where(
        ACCOUNTS.c.number.in_(SYSTEM_NUMBERS.values()))).scalars())
    missing = [{"number": number, "kind": kind, "balance_g": 0, "created_at": utcnow()}
               for kind, number in SYSTEM_NUMBERS.items() if number not in existing]
    if missing:
        connection.execute(insert(ACCOUNTS), missing)


def forget_cached_ids() -> None:
    """Drop cached system-account ids (after a test empties the database)."""
    _system_ids.clear()


def _holder_account(account_id: int) -> Account:
    account = db.session.get(Account, account_id, with_for_update=True)
    if account is None or account.kind != "holder":
        raise NotFound("account_not_found")
    return account


def freeze(account_id: int, actor_id: int, reason: str) -> Account:
    """管理: a frozen account can neither send nor receive until unfrozen."""
    account = _holder_account(account_id)
    if account.frozen_at is not None:
        raise Conflict("account_frozen")
    account.frozen_at = utcnow()
    audit.record(audit.actor_label(actor_id), "freeze", f"account:{account.number}", {"reason": reason})
    db.session.flush()
    return account


def unfreeze(account_id: int, actor_id: int, reason: str) -> Account:
    account = _holder_account(account_id)
    if account.frozen_at is None:
        raise Conflict("account_not_frozen")
    account.frozen_at = None
    audit.record(audit.actor_label(actor_id), "unfreeze", f"account:{account.number}", {"reason": reason})
    db.session.flush()
    return account
