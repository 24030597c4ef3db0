"""Money accounts (fen): what an organization holds, deposits an auditor records from the bank,
withdrawals asked by an organization and paid out by an auditor."""
from sqlalchemy import func, select

from accounting.errors import Conflict, DomainError, NotFound
from accounting.ledger import audit
from accounting.ledger.accounts import system_account_id
from accounting.ledger.idempotency import Idempotency, internal, request_hash
from accounting.ledger.models import Account, Holder
from accounting.ledger.movement import Audit, InsufficientFunds, Leg, exchange
from accounting.market.models import Auction, Deposit, Listing, Withdrawal
from config.db_types import utcnow
from config.extensions import db

ORGANIZATIONS = ("merchant", "enterprise")


def organization_account(number: str) -> Account:
    """An account that may hold money: an organization's (merchant, enterprise) or the pool's."""
    account = db.session.scalar(select(Account).where(Account.number == number))
    if account is None:
        raise NotFound("account_not_found")
    if account.kind == "pool":
        return account
    holder_kind = db.session.scalar(select(Holder.kind).where(Holder.id == account.holder_id)) \
        if account.kind == "holder" else None
    if holder_kind not in ORGANIZATIONS:
        raise DomainError("not_an_organization", account_number=number)
    return account


def wallet(account_id: int) -> dict:
    """One holder, one account number, two balances (and what is set apart of each)."""
    account = db.session.get(Account, account_id)
    listed = db.session.scalar(select(func.coalesce(func.sum(Listing.remaining_g), 0)).where(
        Listing.seller_account_id == account_id, Listing.status == "open"))
    auctioned = db.session.scalar(select(func.coalesce(func.sum(Auction.quantity_g), 0)).where(
        Auction.seller_account_id == account_id, Auction.cleared_at.is_(None)))
    return {"account_number": account.number, "credits_g": account.balance_g, "listed_g": int(listed + auctioned),
            "money_fen": account.money_fen - account.reserved_fen, "reserved_fen": account.reserved_fen}


def deposit(account: Account, amount_fen: int, bank_reference: str, actor_id: int) -> tuple[Deposit, bool]:
    """Money in from the bank, once per bank reference: (the deposit, whether it is new). The same
    reference for another account or amount is refused."""
    existing = db.session.scalar(select(Deposit).where(Deposit.bank_reference == bank_reference))
    if existing is not None:
        return _same_deposit(existing, account.id, amount_fen), False
    key = Idempotency("deposit", bank_reference, request_hash("DEPOSIT", account.number, str(amount_fen).encode()))
    try:
        moved = exchange("deposit", key, money=[Leg(system_account_id("bank"), account.id, amount_fen)],
                         actor_id=actor_id, memo=bank_reference,
                         audit=Audit(actor=audit.actor_label(actor_id), subject=f"account:{account.number}"))
    except DomainError as error:
        if error.code == "idempotency_key_reused":
            raise Conflict("bank_reference_reused", bank_reference=bank_reference) from None
        raise
    if moved.replayed:  # a twin request committed first
        first = db.session.scalar(select(Deposit).where(Deposit.transaction_id == moved.transaction_id))
        return _same_deposit(first, account.id, amount_fen), False
    found = Deposit(account_id=account.id, amount_fen=amount_fen, bank_reference=bank_reference,
                    transaction_id=moved.transaction_id, recorded_by=actor_id)
    db.session.add(found)
    db.session.flush()
    return found, True


def _same_deposit(found: Deposit, account_id: int, amount_fen: int) -> Deposit:
    if found.account_id != account_id or found.amount_fen != amount_fen:
        raise Conflict("bank_reference_reused", bank_reference=found.bank_reference)
    return found


def ask_withdrawal(account_id: int, amount_fen: int, actor_id: int) -> Withdrawal:
    """Asked, not yet paid: the money stays spendable, and paying checks it is still there."""
    account = db.session.get(Account, account_id)
    if account.money_fen - account.reserved_fen < amount_fen:
        raise InsufficientFunds(money_fen=account.money_fen - account.reserved_fen, needed=amount_fen)
    found = Withdrawal(account_id=account_id, amount_fen=amount_fen, status="pending", asked_by=actor_id)
    db.session.add(found)
    db.session.flush()
    audit.record(audit.actor_label(actor_id), "withdrawal_asked", f"withdrawal:{found.id}",
                 {"account": account.number, "amount_fen": amount_fen})
    return found


def withdrawal(withdrawal_id: int, *, lock: bool = False) -> Withdrawal:
    query = select(Withdrawal).where(Withdrawal.id == withdrawal_id)
    found = db.session.scalar(query.with_for_update() if lock else query)
    if found is None:
        raise NotFound("withdrawal_not_found")
    return found


def pay_withdrawal(withdrawal_id: int, actor_id: int, bank_reference: str | None = None) -> Withdrawal:
    """Paid out: the money leaves for the bank (refused, nothing moved, if it is no longer there)."""
    found = withdrawal(withdrawal_id, lock=True)
    if found.status != "pending":
        raise Conflict("withdrawal_not_in_state", expected="pending", actual=found.status)
    moved = exchange("withdraw", internal("withdrawal", str(found.id)),
                     money=[Leg(found.account_id, system_account_id("bank"), found.amount_fen)], actor_id=actor_id,
                     memo=bank_reference, audit=Audit(actor=audit.actor_label(actor_id),
                                                      subject=f"withdrawal:{found.id}"))
    found.status, found.paid_by, found.paid_at = "paid", actor_id, utcnow()
    found.bank_reference, found.transaction_id = bank_reference, moved.transaction_id
    db.session.flush()
    return found
