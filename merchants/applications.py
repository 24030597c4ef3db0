"""Merchant applications: staff apply, the bureau approves, rejects or suspends."""
from sqlalchemy import select

from accounting.errors import Conflict, NotFound
from accounting.ledger import audit
from accounting.ledger.accounts import open_escrow_account, open_holder_account
from accounting.ledger.models import Account
from config.db_types import utcnow
from config.extensions import db
from merchants.models import Merchant


def apply(name: str, district: str, address: str, category: str, licence_number: str, applied_by: int) -> Merchant:
    merchant = Merchant(name=name, district=district, address=address, category=category,
                        licence_number=licence_number, status="pending", applied_by=applied_by)
    db.session.add(merchant)
    db.session.flush()
    audit.record(audit.actor_label(applied_by), "merchant_applied", f"merchant:{merchant.id}", {"name": name})
    return merchant


def merchant(merchant_id: int, *, lock: bool = False) -> Merchant:
    query = select(Merchant).where(Merchant.id == merchant_id)
    found = db.session.scalar(query.with_for_update() if lock else query)
    if found is None:
        raise NotFound("merchant_not_found")
    return found


def approve(merchant_id: int, actor_id: int, note: str | None = None) -> Merchant:
    """Approve: the merchant becomes a holder with an account and an escrow of its own."""
    found = merchant(merchant_id, lock=True)
    if found.status not in ("pending", "suspended"):
        raise Conflict("merchant_not_in_state", expected="pending", actual=found.status)
    if found.account_id is None:
        main, escrow = open_holder_account("merchant", found.district), open_escrow_account()
        found.holder_id, found.account_id, found.escrow_account_id = main.holder_id, main.id, escrow.id
    found.status, found.decided_by, found.decided_at, found.decision_note = "approved", actor_id, utcnow(), note
    audit.record(audit.actor_label(actor_id), "merchant_approved", f"merchant:{found.id}", {"note": note})
    db.session.flush()
    return found


def decide_against(merchant_id: int, actor_id: int, status: str, note: str) -> Merchant:
    """Reject a pending application or suspend an approved merchant (its campaigns stop)."""
    found = merchant(merchant_id, lock=True)
    expected = "pending" if status == "rejected" else "approved"
    if found.status != expected:
        raise Conflict("merchant_not_in_state", expected=expected, actual=found.status)
    found.status, found.decided_by, found.decided_at, found.decision_note = status, actor_id, utcnow(), note
    audit.record(audit.actor_label(actor_id), f"merchant_{status}", f"merchant:{found.id}", {"note": note})
    db.session.flush()
    return found


def sending_account(found: Merchant) -> int:
    """The merchant's account, for credits it sends (transfers, retirements): only while it is
    approved; a suspended merchant's credits stay where they are until it is reinstated."""
    if found.status != "approved" or found.account_id is None:
        raise Conflict("merchant_not_approved")
    return found.account_id


def account_number(found: Merchant) -> str | None:
    if found.account_id is None:
        return None
    return db.session.scalar(select(Account.number).where(Account.id == found.account_id))
