"""Which merchant a staff member acts for (each belongs to exactly one)."""
from accounting.errors import DomainError
from api.actor import current_actor
from api.identity.models import User
from config.extensions import db
from merchants.applications import merchant


def acting_merchant_id() -> int:
    user = db.session.get(User, current_actor().user_id)
    if user is None or user.merchant_id is None:
        raise DomainError("no_merchant")
    return user.merchant_id


def acting_merchant(merchant_id: int | None = None):
    """The staff member's merchant; naming another one answers 404, as if it did not exist."""
    own = acting_merchant_id()
    if merchant_id is not None and merchant_id != own:
        raise DomainError("merchant_not_found")
    return merchant(own)
