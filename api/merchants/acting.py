"""Which merchant a staff member acts for (each belongs to exactly one)."""
from sqlalchemy import bindparam, select

from accounting.errors import DomainError
from api.actor import current_actor
from api.identity.models import User
from config.extensions import db
from merchants.applications import merchant

# Asked on every till scan: one column, from a statement built once (not a whole User loaded).
MERCHANT_OF_USER = select(User.merchant_id).where(User.id == bindparam("user_id"))


def acting_merchant_id() -> int:
    merchant_id = db.session.scalar(MERCHANT_OF_USER, {"user_id": current_actor().user_id})
    if merchant_id is None:  # no such user any more, or one who belongs to no merchant
        raise DomainError("no_merchant")
    return merchant_id


def acting_merchant(merchant_id: int | None = None):
    """The staff member's merchant; naming another one answers 404, as if it did not exist."""
    own = acting_merchant_id()
    if merchant_id is not None and merchant_id != own:
        raise DomainError("merchant_not_found")
    return merchant(own)
