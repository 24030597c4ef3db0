"""Data-source credentials: key, encrypted secret, and the HMAC-SHA256 request signature."""
import base64
import hashlib
import hmac
import secrets

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF


def new_key() -> str:
    return "bzk_" + secrets.token_hex(16)


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def _fernet(app_secret: str) -> Fernet:
    # A key of its own, derived from the app secret, so the secret never encrypts directly.
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"source-secrets").derive(
        app_secret.encode()
    )
    return Fernet(base64.urlsafe_b64encode(derived))


def encrypt_secret(secret: str, app_secret: str) -> bytes:
    return _fernet(app_secret).encrypt(secret.encode())


def decrypt_secret(ciphertext: bytes, app_secret: str) -> str | None:
    try:
        return _fernet(app_secret).decrypt(ciphertext).decode()
    except InvalidToken:
        return None


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """hex HMAC-SHA256(secret, timestamp + "." + raw body), as API.md specifies."""
    return hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def signature_matches(secret: str, timestamp: str, body: bytes, signature: str) -> bool:
    # Bytes, not str: compare_digest refuses str with non-ASCII characters (a 500, not a 401).
    return hmac.compare_digest(sign(secret, timestamp, body).encode(), signature.lower().encode())
