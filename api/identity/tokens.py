"""JWT access/refresh tokens: claims, revocation, and problem+json for token errors."""
from datetime import datetime, timezone

from flask_jwt_extended import create_access_token, create_refresh_token, decode_token, get_jwt
from sqlalchemy import text

from api.identity.models import RevokedToken, User
from api.problems import problem_response
from config.db_types import utcnow
from config.extensions import db, jwt


def issue_tokens(user: User, account_id: int | None) -> dict:
    """A refresh token (the session) and an access token tied to it by `sid`."""
    claims = {"role": user.role, "hid": user.holder_id, "aid": account_id}
    refresh = create_refresh_token(identity=str(user.id), additional_claims=claims)
    session_id = decode_token(refresh)["jti"]
    access = create_access_token(identity=str(user.id), additional_claims=claims | {"sid": session_id})
    return {"access_token": access, "refresh_token": refresh}


def refreshed_access_token() -> str:
    claims = get_jwt()
    keep = {k: claims.get(k) for k in ("role", "hid", "aid")}
    return create_access_token(identity=claims["sub"], additional_claims=keep | {"sid": claims["jti"]})


def revoke_current_session() -> None:
    """Sign out: the presented token and its whole session (refresh and access) stop working."""
    claims = get_jwt()
    expires = datetime.fromtimestamp(claims["exp"], timezone.utc)
    for jti in {claims["jti"], claims.get("sid") or claims["jti"]}:
        if db.session.get(RevokedToken, jti) is None:
            # A session outlives its access tokens; keep its row as long as the longest token.
            db.session.add(RevokedToken(jti=jti, expires_at=max(expires, utcnow()), revoked_at=utcnow()))
    db.session.flush()


# Runs on every authenticated request: plain SQL, one indexed lookup of the token and its session,
# and one of its user by primary key: a closed account's every token stops working at once,
# sessions whose ids were never written down included.
REVOKED_LOOKUP = text("SELECT 1 FROM revoked_tokens WHERE jti = :jti OR jti = :sid "
                      "UNION ALL SELECT 1 FROM users WHERE id = :user_id AND closed_at IS NOT NULL LIMIT 1")


@jwt.token_in_blocklist_loader
def token_is_revoked(_header, payload) -> bool:
    try:
        user_id = int(payload["sub"])
    except (KeyError, TypeError, ValueError):
        return True  # not a token this app issued
    found = db.session.execute(REVOKED_LOOKUP, {"jti": payload["jti"], "sid": payload.get("sid") or payload["jti"],
                                                "user_id": user_id})
    return found.first() is not None


@jwt.unauthorized_loader
def _missing_token(_reason):
    return problem_response("unauthorized")


@jwt.invalid_token_loader
def _invalid_token(_reason):
    return problem_response("token_invalid")


@jwt.expired_token_loader
def _expired_token(_header, _payload):
    return problem_response("token_expired")


@jwt.revoked_token_loader
def _revoked_token(_header, _payload):
    return problem_response("token_revoked")


@jwt.user_lookup_error_loader
def _user_gone(_header, _payload):
    return problem_response("token_invalid")


@jwt.token_verification_failed_loader
def _verification_failed(_header, _payload):
    return problem_response("token_invalid")


@jwt.needs_fresh_token_loader
def _needs_fresh(_header, _payload):
    return problem_response("token_invalid")

