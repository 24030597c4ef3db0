"""Invariant 7: every mutation carries an idempotency key; a replay returns the first result and
the same key with a different request is refused.

One recipe for what "the same request" means, shared by the API's replay store and the
ledger's own keys: the SHA-256 of the method, the path and the raw body.
"""
import hashlib
from dataclasses import dataclass


@dataclass(frozen=True)
class Idempotency:
    """Who may not repeat themselves (scope), the key they sent, and what they asked for."""

    scope: str
    key: str
    request_hash: str

    def for_part(self, part: str) -> "Idempotency":
        """The key of one part of a request that makes several movements (e.g. one per holder)."""
        return Idempotency(self.scope, f"{self.key}:{part}", self.request_hash)


def request_hash(method: str, path: str, body: bytes) -> str:
    digest = hashlib.sha256(method.encode() + b" " + path.encode() + b"\n")
    digest.update(body)
    return digest.hexdigest()


def internal(scope: str, key: str) -> Idempotency:
    """The key of a movement the platform makes itself (an issuance, a redemption, an expiry):
    the key names the whole request, so it is its own hash."""
    return Idempotency(scope, key, key)
