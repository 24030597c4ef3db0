"""Argon2id password hashes, cost from the app config."""
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app

# Checked against when the phone is unknown, so a miss costs as much as a wrong password.
_DUMMY_PASSWORD = "not-a-real-password"


def _hasher() -> PasswordHasher:
    hasher = current_app.extensions.get("password_hasher")
    if hasher is None:
        hasher = PasswordHasher(
            time_cost=current_app.config["ARGON2_TIME_COST"],
            memory_cost=current_app.config["ARGON2_MEMORY_KIB"],
        )
        current_app.extensions["password_hasher"] = hasher
        current_app.extensions["password_dummy_hash"] = hasher.hash(_DUMMY_PASSWORD)
    return hasher


def hash_password(password: str) -> str:
    return _hasher().hash(password)


def password_matches(password_hash: str | None, password: str) -> bool:
    hasher = _hasher()
    try:
        return hasher.verify(password_hash or current_app.extensions["password_dummy_hash"], password) and (
            password_hash is not None
        )
    except (VerificationError, InvalidHashError):
        return False
