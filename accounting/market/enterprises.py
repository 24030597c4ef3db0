"""企业: enterprises apply with a checked credit code, the bureau approves; on approval each gets a
holder and an account (credits and money) like a merchant's."""
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from accounting.errors import Conflict, DomainError, NotFound
from accounting.ledger import audit
from accounting.ledger.accounts import open_holder_account
from accounting.market.credit_codes import is_valid_credit_code
from accounting.market.models import Enterprise
from config.db_types import utcnow
from config.extensions import db


def apply(name: str, credit_code: str, district: str, applied_by: int) -> Enterprise:
    """A pending application; a credit code with a wrong check character, or one filed already, is refused."""
    credit_code = credit_code.strip().upper()
    if not is_valid_credit_code(credit_code):
        raise DomainError("invalid_credit_code", credit_code=credit_code)
    if db.session.scalar(select(Enterprise.id).where(Enterprise.credit_code == credit_code)) is not None:
        raise Conflict("already_registered", credit_code=credit_code)
    enterprise = Enterprise(name=name, credit_code=credit_code, district=district, status="pending",
                            applied_by=applied_by)
    try:
        with db.session.begin_nested():  # a twin application racing this one meets the unique index
            db.session.add(enterprise)
    except IntegrityError:
        raise Conflict("already_registered", credit_code=credit_code) from None
    audit.record(audit.actor_label(applied_by), "enterprise_applied", f"enterprise:{enterprise.id}",
                 {"name": name, "credit_code": credit_code})
    return enterprise


def enterprise(enterprise_id: int, *, lock: bool = False) -> Enterprise:
    query = select(Enterprise).where(Enterprise.id == enterprise_id)
    found = db.session.scalar(query.with_for_update() if lock else query)
    if found is None:
        raise NotFound("enterprise_not_found")
    return found


def approve(enterprise_id: int, actor_id: int, note: str | None = None) -> Enterprise:
    found = enterprise(enterprise_id, lock=True)
    if found.status != "pending":
        raise Conflict("enterprise_not_in_state", expected="pending", actual=found.status)
    account = open_holder_account("enterprise", found.district)
    found.holder_id, found.account_id = account.holder_id, account.id
    found.status, found.decided_by, found.decided_at, found.decision_note = "approved", actor_id, utcnow(), note
    audit.record(audit.actor_label(actor_id), "enterprise_approved", f"enterprise:{found.id}", {"note": note})
    db.session.flush()
    return found


def reject(enterprise_id: int, actor_id: int, note: str) -> Enterprise:
    found = enterprise(enterprise_id, lock=True)
    if found.status != "pending":
        raise Conflict("enterprise_not_in_state", expected="pending", actual=found.status)
    found.status, found.decided_by, found.decided_at, found.decision_note = "rejected", actor_id, utcnow(), note
    audit.record(audit.actor_label(actor_id), "enterprise_rejected", f"enterprise:{found.id}", {"note": note})
    db.session.flush()
    return found


def trading_account(found: Enterprise) -> int:
    """The enterprise's account, for buying, bidding and paying: only once it is approved."""
    if found.status != "approved" or found.account_id is None:
        raise Conflict("enterprise_not_approved")
    return found.account_id
