"""注销: units leave circulation for good, for a named beneficiary and purpose, listed publicly."""
import secrets

from sqlalchemy import select

from accounting.errors import NotFound
from accounting.ledger import audit
from accounting.ledger.accounts import system_account_id
from accounting.ledger.idempotency import Idempotency
from accounting.ledger.models import Retirement
from accounting.ledger.movement import Audit, move
from config.db_types import utcnow
from config.extensions import db


def new_retirement_number() -> str:
    return f"BZR-{utcnow():%Y}-{secrets.token_hex(4).upper()}"


def retire(account_id: int, amount_g: int, beneficiary: str, purpose: str, idempotency: Idempotency, *,
           actor_id: int | None) -> Retirement:
    """Move the units to the retirement account, retired (invariant 6: they never move again), and
    certify it with a public number; a replay returns the first retirement."""
    moved = move("retire", account_id, system_account_id("retirement"), amount_g, idempotency, actor_id=actor_id,
                 memo=purpose[:200], status="retired",
                 audit=Audit(actor=audit.actor_label(actor_id), subject=f"account:{account_id}"))
    if moved.replayed:
        return db.session.scalar(select(Retirement).where(Retirement.transaction_id == moved.transaction_id))
    retirement = Retirement(number=new_retirement_number(), account_id=account_id, amount_g=amount_g,
                            beneficiary=beneficiary, purpose=purpose, transaction_id=moved.transaction_id)
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
