"""Closing a resident's account (注销账户, PIPL art. 47), in the request's one transaction.

Once the password matched:
1. reductions no batch holds yet are forgone (rejected, `account_closed`): no credits come into
   being for an account nobody can use; those a batch holds already are issued with it later,
   to the pseudonymised account (frozen: they stay there, traceable);
2. with the accounts locked (all at once, in id order), coupons still claimed are released,
   their price back from the merchant's escrow (as at expiry), so it leaves with the balance
   rather than waiting in an escrow for nobody;
3. consents are withdrawn (each a `withdraw` in the consent history);
4. the whole balance is donated to the pool or retired for the beneficiary the resident names;
5. the account is frozen, the holder and user marked closed: every token of the user is refused
   from then on (api.identity.tokens), the password hash is gone, phone and name become one
   pseudonym (so the phone may register afresh, as a new person);
6. the audit log records the closure: the account's public number and figures, no phone, no name.
Events and journal rows stay as they are: issued credits remain traceable, to the pseudonym.
"""
import secrets
from dataclasses import dataclass
from datetime import datetime

from accounting.errors import DomainError
from accounting.ledger import audit, donations, retirements
from accounting.ledger.accounts import account_of_holder, system_account_id
from accounting.ledger.idempotency import internal
from accounting.ledger.models import Holder, Retirement
from accounting.ledger.movement import Moved, lock_accounts
from accounting.record import consents, recording
from api.identity.models import User
from api.identity.passwords import password_matches
from config.extensions import db
from merchants import coupons

DEFAULT_PURPOSE = "账户注销 · account closure"


@dataclass
class Closure:
    closed_at: datetime
    account_number: str
    balance: str
    amount_g: int
    released_coupons: int
    released_g: int
    forgone_g: int
    withdrawn_consents: int
    donation: Moved | None = None
    retirement: Retirement | None = None


def pseudonym() -> str:
    """What phone and name become: unique, never a phone number (sign-up takes digits only)."""
    return f"closed-{secrets.token_hex(6)}"


def close_account(user_id: int, password: str, balance: str, beneficiary: str | None, purpose: str | None,
                  *, now: datetime) -> Closure:
    """Close the account of the resident `user_id` (see the module's docstring); flushes, never commits."""
    user = db.session.get(User, user_id, with_for_update=True, populate_existing=True)
    if user is None or user.closed_at is not None or user.role != "resident":
        raise DomainError("token_revoked")  # closed by a twin request a moment ago
    if not password_matches(user.password_hash, password):
        raise DomainError("wrong_password")
    account = account_of_holder(user.holder_id)
    # Locks in the order the rest of the platform takes them: coupons before accounts (as a redemption
    # or an expiry), events before accounts (as an issuance), accounts all at once in id order.
    claimed = coupons.claimed_coupons_of(account.id)
    forgone_g = recording.forgo_unbatched(account.id, now=now)
    destination = system_account_id("pool" if balance == "donate" else "retirement")
    lock_accounts({account.id, destination} | coupons.escrows_of(claimed))
    released_g = coupons.release_for_closure(claimed, now=now)
    withdrawn = consents.withdraw_all(account.id, now, cause="account_closed")
    db.session.refresh(account)  # the balance as the ledger's functions left it, under our lock
    closure = Closure(now, account.number, balance, account.balance_g, len(claimed), released_g, forgone_g, withdrawn)
    if closure.amount_g > 0:
        key = internal("closure", f"account:{account.id}")
        if balance == "donate":
            closure.donation = donations.donate(account.id, closure.amount_g, key, actor_id=user.id)
        else:
            closure.retirement = retirements.retire(account.id, closure.amount_g, beneficiary,
                                                    purpose or DEFAULT_PURPOSE, key, actor_id=user.id)
    _pseudonymise(user, account, now)
    audit.record(audit.actor_label(user.id), "account_closed", f"account:{account.number}", {
        "balance": balance, "amount_g": closure.amount_g, "released_coupons": closure.released_coupons,
        "released_g": released_g, "forgone_g": forgone_g, "withdrawn_consents": withdrawn,
        "transaction_id": (closure.donation.transaction_id if closure.donation
                           else closure.retirement.transaction_id if closure.retirement else None)})
    db.session.flush()
    return closure


def _pseudonymise(user: User, account, now: datetime) -> None:
    name = pseudonym()
    user.phone, user.display_name, user.password_hash, user.closed_at = name, name, None, now
    account.frozen_at = now  # nothing moves in or out again (a transfer to its number is refused)
    db.session.get(Holder, account.holder_id).closed_at = now  # ingest refuses reports for it
