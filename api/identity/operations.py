"""Registering residents, creating staff users, checking credentials."""
from sqlalchemy import select

from accounting.errors import Conflict, DomainError
from accounting.ledger.accounts import open_resident_account
from accounting.ledger.models import Account
from api.identity.models import ROLES, User
from api.identity.passwords import hash_password, password_matches
from config.db_types import utcnow
from config.extensions import db


def _ensure_phone_free(phone: str) -> None:
    if db.session.scalar(select(User.id).where(User.phone == phone)):
        raise Conflict("phone_taken")


def register_resident(phone: str, password: str, display_name: str, district: str | None):
    """A resident user with a new personal carbon account."""
    _ensure_phone_free(phone)
    account = open_resident_account(district)
    user = User(phone=phone, password_hash=hash_password(password), role="resident",
                display_name=display_name, holder_id=account.holder_id)
    db.session.add(user)
    db.session.flush()
    return user, account


def create_staff_user(role: str, phone: str, password: str, display_name: str | None = None) -> User:
    """A staff user (auditor, admin, merchant staff); residents sign up through the API."""
    if role not in ROLES or role == "resident":
        raise DomainError("forbidden_role")
    _ensure_phone_free(phone)
    user = User(phone=phone, password_hash=hash_password(password), role=role,
                display_name=display_name or role)
    db.session.add(user)
    db.session.flush()
    return user


def authenticate(phone: str, password: str) -> tuple[User, int | None]:
    """The user with these credentials and their account id, or bad_credentials."""
    user = db.session.scalar(select(User).where(User.phone == phone))
    if not password_matches(user.password_hash if user else None, password):
        raise DomainError("bad_credentials")
    user.last_login_at = utcnow()
    return user, account_id_of(user)


def account_id_of(user: User) -> int | None:
    if user.holder_id is None:
        return None
    return db.session.scalar(select(Account.id).where(Account.holder_id == user.holder_id))
