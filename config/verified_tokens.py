"""A JWT manager that verifies each distinct token once per process and app.

An app presents the same access token on every request of its 15-minute life, and
flask-jwt-extended decodes it three times per request (claims, header, then verified claims:
base64, JSON and the HMAC each time), measured at a quarter of the CPU of a small request such
as POST /me/trips. Decoding is a pure function of the token and the app's JWT settings, so
the verified claims are kept per app, keyed by the token itself; what must be fresh is still
checked on every request:

- expiry: a kept token past its `exp` (with the app's leeway) is decoded again, and so
  refused exactly as an uncached one;
- revocation, token type and freshness: flask-jwt-extended checks them after decoding, per
  request, on what this returns (the blocklist lookup included).

Only the plain decode is kept: a CSRF value or `allow_expired` goes the uncached way.
"""
import time

from flask import current_app
from flask_jwt_extended import JWTManager

KEPT_PER_APP = 10_000  # about 1 KB each (some 10 MB per process at most); the oldest goes first


class VerifiedTokenJWTManager(JWTManager):
    def _decode_jwt_from_config(self, encoded_token: str, csrf_value=None, allow_expired: bool = False) -> dict:
        if csrf_value is not None or allow_expired:
            return super()._decode_jwt_from_config(encoded_token, csrf_value, allow_expired)
        kept = current_app.extensions.setdefault("verified_tokens", {})
        claims = kept.get(encoded_token)
        if claims is not None and (claims.get("exp") is None or
                                   claims["exp"] > time.time() - _leeway_seconds()):
            return dict(claims)  # a copy: the request may not change what the next one sees
        claims = super()._decode_jwt_from_config(encoded_token, csrf_value, allow_expired)
        if len(kept) >= KEPT_PER_APP:
            try:
                del kept[next(iter(kept))]
            except (StopIteration, RuntimeError, KeyError):  # another thread changed it meanwhile
                pass
        kept[encoded_token] = dict(claims)
        return claims


def _leeway_seconds() -> float:
    leeway = current_app.config.get("JWT_DECODE_LEEWAY", 0)
    return leeway.total_seconds() if hasattr(leeway, "total_seconds") else float(leeway)
