"""Which organization's account a signed-in staff member acts for on the market."""
from sqlalchemy import bindparam, select

from accounting.errors import DomainError
from accounting.ledger.accounts import system_account_id
from accounting.market import enterprises, money
from accounting.market.models import Enterprise
from api.actor import current_actor
from api.identity.models import User
from api.merchants.acting import acting_merchant
from config.extensions import db
from merchants.applications import sending_account

ENTERPRISE_OF_USER = select(User.enterprise_id).where(User.id == bindparam("user_id"))


def acting_enterprise(enterprise_id: int | None = None) -> Enterprise:
    """The staff member's enterprise; naming another one answers 404, as if it did not exist."""
    own = db.session.scalar(ENTERPRISE_OF_USER, {"user_id": current_actor().user_id})
    if own is None:
        raise DomainError("no_enterprise")
    if enterprise_id is not None and enterprise_id != own:
        raise DomainError("enterprise_not_found")
    return enterprises.enterprise(own)


def buying_account() -> int:
    """An enterprise's account: only enterprises buy and bid."""
    return enterprises.trading_account(acting_enterprise())


def organization_account() -> int:
    """The approved organization (merchant or enterprise) a staff member acts for."""
    role = current_actor().role
    if role == "enterprise_staff":
        return buying_account()
    if role == "merchant_staff":
        return sending_account(acting_merchant())
    raise DomainError("no_organization")


def named_account(number: str | None) -> int:
    """An auditor's `?account=`: `pool` or an organization's account number (default the pool)."""
    if number in (None, "pool"):
        return system_account_id("pool")
    return money.organization_account(number).id
