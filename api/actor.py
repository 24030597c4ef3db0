"""The acting user of a request, from its access token, and role checks."""
from dataclasses import dataclass
from functools import wraps

from flask_jwt_extended import get_jwt, verify_jwt_in_request

from accounting.errors import DomainError


class ForbiddenRole(DomainError):
    code = "forbidden_role"


@dataclass(frozen=True)
class Actor:
    user_id: int
    role: str
    holder_id: int | None
    account_id: int | None


def current_actor() -> Actor:
    claims = get_jwt()
    return Actor(int(claims["sub"]), claims["role"], claims.get("hid"), claims.get("aid"))


def roles_required(*roles: str):
    """Signed in with an access token and holding one of `roles`, else 401/403 problem+json."""

    def decorator(view):
        @wraps(view)
        def wrapper(*args, **kwargs):
            verify_jwt_in_request()
            if get_jwt().get("role") not in roles:
                raise ForbiddenRole()
            return view(*args, **kwargs)

        return wrapper

    return decorator
