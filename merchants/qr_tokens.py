"""What a coupon's QR code holds: a signed, expiring token with no personal data in it."""
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from accounting.errors import DomainError

SALT = "coupon-qr-v1"
# Long enough for a queue at the till, short enough that a screenshot goes stale.
TOKEN_MAX_AGE_SECONDS = 15 * 60


def coupon_token(coupon_id: int, code: str, secret: str) -> str:
    return URLSafeTimedSerializer(secret, salt=SALT).dumps([coupon_id, code])


def read_token(token: str, secret: str, max_age: int = TOKEN_MAX_AGE_SECONDS) -> tuple[int, str]:
    """(coupon id, one-time code), or a refusal saying whether it was forged or is stale."""
    try:
        coupon_id, code = URLSafeTimedSerializer(secret, salt=SALT).loads(token, max_age=max_age)
    except SignatureExpired:
        raise DomainError("qr_expired") from None
    except (BadSignature, ValueError, TypeError):
        raise DomainError("qr_invalid") from None
    if not isinstance(coupon_id, int) or not isinstance(code, str):
        raise DomainError("qr_invalid")
    return coupon_id, code
