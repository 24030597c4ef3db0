"""Registry operations (登记, 交易, 注销, 管理): transfer, retire, revoke, freeze.

Each takes plain values and an Idempotency, flushes, never commits, and appends an
audit record in the same transaction.
"""
import secrets
from dataclasses import dataclass

from sqlalchemy import and_, select, update

from accounting import audit, ledger, movements
from accounting.errors import Conflict, DomainError, NotFound
from accounting.ledger import Idempotency, MovedRange
from accounting.models import Account, CreditBlock, IssuanceBatch, JournalTransaction, Retirement
from config.db_types import utcnow
from config.extensions import db


@dataclass(frozen=True)
class Movement:
    transaction_id: int
    amount_g: int
    ranges: list[MovedRange]
    replayed: bool


def _positive(amount_g: int) -> None:
    if not _is_positive(amount_g):
        raise DomainError("invalid_amount")


def _is_positive(amount_g) -> bool:
    return isinstance(amount_g, int) and amount_g > 0


def _holder_balance_check(accounts, account_id, amount_g):
    if accounts[account_id].balance_g < amount_g:
        raise ledger.InsufficientBalance(balance_g=accounts[account_id].balance_g, needed=amount_g)


def move(kind: str, from_id: int, to_id: int, amount_g: int, idempotency: Idempotency, *, actor_id: int | None,
         memo: str | None = None, status: str = "active", audit_subject: str | None = None,
         receiver_may_be_frozen: bool = False) -> Movement:
    """One journal transaction moving `amount_g` units between two accounts.

    A frozen account neither sends nor receives, except that credits owed back to it (an
    expired coupon's price) still return to it.
    """
    _positive(amount_g)
    if from_id == to_id:
        raise DomainError("same_account")
    begun = movements.begin_movement(kind, idempotency, actor_id, memo, from_id, amount_g, receiver_id=to_id)
    return _carry_out(kind, begun, from_id, amount_g, actor_id=actor_id, memo=memo, status=status,
                      audit_subject=audit_subject, receiver_may_be_frozen=receiver_may_be_frozen)


def _carry_out(kind: str, begun: movements.Begun, from_id: int, amount_g: int, *, actor_id: int | None,
               memo: str | None, status: str = "active", audit_subject: str | None = None,
               receiver_may_be_frozen: bool = False) -> Movement:
    """The movement of a transaction begin_movement() just claimed (or the first one's, on a replay)."""
    transaction, to_id, accounts = begun.transaction, begun.receiver_id, begun.accounts
    if begun.replayed:
        return Movement(transaction.id, amount_g, ledger.ranges_of(transaction.id), True)
    ledger.ensure_movable(accounts, *((from_id,) if receiver_may_be_frozen else (from_id, to_id)))
    _holder_balance_check(accounts, from_id, amount_g)
    actor, subject = audit.actor_label(actor_id), audit_subject or f"transaction:{transaction.id}"
    ranges = movements.move_and_post(
        transaction.id, from_id, to_id, amount_g, status=status, oldest_blocks=begun.oldest_blocks,
        audit_entry=lambda moved: audit.entry(actor, kind, subject, {
            "transaction": transaction.id, "from": from_id, "to": to_id, "amount_g": amount_g,
            "serials": [r.serials for r in moved], "memo": memo,
        }))
    return Movement(transaction.id, amount_g, ranges, False)


def transfer(from_id: int, to_number: str, amount_g: int, idempotency: Idempotency, *, actor_id: int | None,
             memo: str | None = None) -> Movement:
    """交易 at its simplest: a holder sends units to another holder's account by number."""
    if not _is_positive(amount_g):  # refused before anything is claimed; an unknown number is told first
        if db.session.scalar(select(Account.id).where(Account.number == to_number, Account.kind == "holder")) is None:
            raise NotFound("account_not_found")
        raise DomainError("invalid_amount")
    begun = movements.begin_movement("transfer", idempotency, actor_id, memo, from_id, amount_g, receiver_number=to_number)
    if begun.receiver_id is None:
        raise NotFound("account_not_found")
    if begun.receiver_id == from_id:
        raise DomainError("same_account")
    return _carry_out("transfer", begun, from_id, amount_g, actor_id=actor_id, memo=memo)


def new_retirement_number() -> str:
    return f"BZR-{utcnow():%Y}-{secrets.token_hex(4).upper()}"


def retire(account_id: int, amount_g: int, beneficiary: str, purpose: str, idempotency: Idempotency, *,
           actor_id: int | None) -> Retirement:
    """注销: the units leave circulation for good, for a named beneficiary and purpose."""
    movement = move("retire", account_id, ledger.system_account_id("retirement"), amount_g, idempotency,
                    actor_id=actor_id, memo=purpose[:200], status="retired", audit_subject=f"account:{account_id}")
    existing = db.session.scalar(select(Retirement).where(Retirement.transaction_id == movement.transaction_id))
    if existing is not None:
        return existing
    retirement = Retirement(number=new_retirement_number(), account_id=account_id, amount_g=amount_g,
                            beneficiary=beneficiary, purpose=purpose, transaction_id=movement.transaction_id)
    db.session.add(retirement)
    db.session.flush()
    audit.record(audit.actor_label(actor_id), "retirement_certified", f"retirement:{retirement.number}",
                 {"number": retirement.number, "beneficiary": beneficiary, "purpose": purpose, "amount_g": amount_g})
    return retirement


def retirement_by_number(number: str) -> Retirement:
    found = db.session.scalar(select(Retirement).where(Retirement.number == number))
    if found is None:
        raise NotFound("retirement_not_found")
    return found


def revoke_range(serial_prefix: str, first: int, last: int, reason: str, idempotency: Idempotency, *,
                 actor_id: int) -> dict:
    """Revoke units first..last of a batch: what holders still have moves to the revocation
    account (one transaction per holder); what was already retired or revoked is reported,
    not touched (invariant 6). Frozen accounts are revoked from too."""
    batch = db.session.scalar(select(IssuanceBatch).where(IssuanceBatch.serial_prefix == serial_prefix))
    if batch is None or first < 1 or last < first:
        raise NotFound("serial_not_found")
    in_range = and_(CreditBlock.batch_id == batch.id, CreditBlock.status != "split",
                    CreditBlock.first_serial <= last, CreditBlock.last_serial >= first)
    earlier = _revocations_keyed(idempotency)
    if earlier:  # invariant 7: a replay answers as the first call did; another request is refused
        if any(t.request_hash != idempotency.request_hash for t in earlier):
            raise DomainError("idempotency_key_reused")
        return _first_answer(batch.serial_prefix, first, last, in_range, earlier)
    revocation_id = ledger.system_account_id("revocation")
    # Lock the range's holders before trusting what they hold: units moved on between an unlocked
    # read and the lock would leave a holder with nothing to revoke (an empty movement, refused)
    # and their new holder's units unrevoked. Read again until every holder read is locked.
    locked: set[int] = set()
    while True:
        pieces = db.session.execute(select(CreditBlock.account_id, CreditBlock.status, CreditBlock.first_serial,
                                           CreditBlock.last_serial).where(in_range)).all()
        holders = {p.account_id for p in pieces if p.status == "active"}
        if holders <= locked:
            break
        locked |= holders
        ledger.lock_accounts(locked | {revocation_id})
    not_moved: dict[str, int] = {}
    for piece in pieces:
        if piece.status in ("retired", "revoked"):
            size = min(piece.last_serial, last) - max(piece.first_serial, first) + 1
            not_moved[piece.status] = not_moved.get(piece.status, 0) + size
    revoked, transactions = 0, []
    for account_id in sorted(holders):
        scoped = Idempotency(idempotency.scope, f"{idempotency.key}:{account_id}", idempotency.request_hash)
        transaction, replayed = ledger.begin("revoke", scoped, actor_id, reason[:200])
        if not replayed:
            amount = ledger.isolate_range(transaction.id, account_id, batch.id, first, last)
            inside = and_(ledger.BLOCKS.c.batch_id == batch.id, ledger.BLOCKS.c.first_serial >= first,
                          ledger.BLOCKS.c.last_serial <= last)
            ranges = ledger.move_units(transaction.id, account_id, revocation_id, amount, status="revoked",
                                       only=inside)
            ledger.post_entries(transaction.id, {account_id: -amount, revocation_id: amount})
            audit.record(audit.actor_label(actor_id), "revoke", f"batch:{batch.serial_prefix}", {
                "transaction": transaction.id, "from": account_id, "amount_g": amount, "reason": reason,
                "serials": [r.serials for r in ranges]})
        revoked += sum(r.last - r.first + 1 for r in ledger.ranges_of(transaction.id))
        transactions.append(transaction.id)
    return {"batch": batch.serial_prefix, "first": first, "last": last, "revoked_g": revoked,
            "not_moved_g": not_moved, "transactions": transactions}


def _revocations_keyed(idempotency: Idempotency) -> list[JournalTransaction]:
    """The per-holder transactions an earlier revocation with this key made (key:holder)."""
    return list(db.session.scalars(select(JournalTransaction).where(
        JournalTransaction.kind == "revoke", JournalTransaction.idempotency_scope == idempotency.scope,
        JournalTransaction.idempotency_key.startswith(f"{idempotency.key}:", autoescape=True))
        .order_by(JournalTransaction.id)))


def _first_answer(prefix: str, first: int, last: int, in_range, earlier: list[JournalTransaction]) -> dict:
    """What the first call answered: its own revocations, and what it found retired or revoked."""
    revoked = sum(r.last - r.first + 1 for t in earlier for r in ledger.ranges_of(t.id))
    not_moved: dict[str, int] = {}
    for piece in db.session.execute(select(CreditBlock.status, CreditBlock.first_serial, CreditBlock.last_serial)
                                    .where(in_range, CreditBlock.status.in_(("retired", "revoked")))):
        size = min(piece.last_serial, last) - max(piece.first_serial, first) + 1
        not_moved[piece.status] = not_moved.get(piece.status, 0) + size
    not_moved["revoked"] = not_moved.get("revoked", 0) - revoked  # those are the first call's own
    return {"batch": prefix, "first": first, "last": last, "revoked_g": revoked,
            "not_moved_g": {status: grams for status, grams in not_moved.items() if grams},
            "transactions": [t.id for t in earlier]}


def freeze(account_id: int, actor_id: int, reason: str) -> Account:
    """管理: a frozen account can neither send nor receive until unfrozen."""
    account = db.session.get(Account, account_id, with_for_update=True)
    if account is None or account.kind != "holder":
        raise NotFound("account_not_found")
    if account.frozen_at is not None:
        raise Conflict("account_frozen")
    account.frozen_at = utcnow()
    audit.record(audit.actor_label(actor_id), "freeze", f"account:{account.number}", {"reason": reason})
    db.session.flush()
    return account


def unfreeze(account_id: int, actor_id: int, reason: str) -> Account:
    account = db.session.get(Account, account_id, with_for_update=True)
    if account is None or account.kind != "holder":
        raise NotFound("account_not_found")
    if account.frozen_at is None:
        raise Conflict("account_not_frozen")
    db.session.execute(update(Account.__table__).where(Account.id == account_id).values(frozen_at=None))
    audit.record(audit.actor_label(actor_id), "unfreeze", f"account:{account.number}", {"reason": reason})
    db.session.flush()
    return account
