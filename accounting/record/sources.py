"""Filing data sources (备案), authenticating their requests, and residents' consent."""
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql

from accounting.errors import Conflict, NotFound, SourceAuthError
from accounting.record import consents
from accounting.record import credentials as creds
from accounting.record.models import SOURCE_KINDS, DataSource, SeenSignature, SourceAuthorization, Station
from config.db_types import utcnow
from config.extensions import db

# The app's own pedometer/GPS: residents post as themselves, so it has no credentials.
APP_SOURCE_CODE = "APP"


def file_source(code: str, kind: str, name: str, app_secret: str, trust_level: int = 1):
    """File a source and mint its credentials; the secret is returned once, never stored in clear."""
    if kind not in SOURCE_KINDS:
        raise Conflict("unknown_source_kind", kind=kind)
    if db.session.scalar(select(DataSource.id).where(DataSource.code == code)):
        raise Conflict("source_exists", code=code)
    key, secret = creds.new_key(), creds.new_secret()
    source = DataSource(
        code=code, kind=kind, name=name or code, trust_level=trust_level,
        api_key=key, secret_ciphertext=creds.encrypt_secret(secret, app_secret),
    )
    db.session.add(source)
    db.session.flush()
    return source, key, secret


def file_station(source_code: str, code: str, name: str, district: str | None = None) -> Station:
    """File a recycling station under a source, so its events can name it."""
    source = source_by_code(source_code)
    if db.session.scalar(select(Station.id).where(Station.code == code)):
        raise Conflict("station_exists", code=code)
    station = Station(source_id=source.id, code=code, name=name, district=district)
    db.session.add(station)
    db.session.flush()
    return station


def source_by_code(code: str) -> DataSource:
    source = db.session.scalar(select(DataSource).where(DataSource.code == code))
    if source is None:
        raise NotFound("source_not_found", code=code)
    return source


def authenticate_source(
    api_key: str | None, timestamp: str | None, body: bytes, signature: str | None,
    *, now: datetime, max_age_seconds: int, app_secret: str,
) -> DataSource:
    """The filed, approved source whose secret signed this request, or SourceAuthError."""
    if not api_key or not timestamp or not signature:
        raise SourceAuthError("missing_signature_headers")
    try:
        age = abs(now.timestamp() - int(timestamp))
    except (ValueError, OverflowError):  # not an integer, or too large for a float
        raise SourceAuthError("bad_timestamp") from None
    if age > max_age_seconds:
        raise SourceAuthError("stale_timestamp", max_age_seconds=max_age_seconds)
    source = db.session.scalar(select(DataSource).where(DataSource.api_key == api_key))
    secret = source and source.secret_ciphertext and creds.decrypt_secret(source.secret_ciphertext, app_secret)
    if not secret or not creds.signature_matches(secret, timestamp, body, signature):
        # One answer for an unknown key and a wrong signature: no probing for valid keys.
        raise SourceAuthError("bad_signature")
    if source.status != "approved":
        raise SourceAuthError("source_suspended", code=source.code)
    return source


# A signature stays refusable for as long as a timestamp could be accepted: the acceptance window
# extends both ways around the server's clock.
SEEN_FOR = 2


def first_sighting(source_id: int, signature: str, *, now: datetime, max_age_seconds: int) -> bool:
    """Record a signed request's signature; False if it was seen before (a replay)."""
    claimed = db.session.execute(
        postgresql.insert(SeenSignature).values(
            signature=signature.lower()[:64], source_id=source_id,
            expires_at=now + timedelta(seconds=SEEN_FOR * max_age_seconds))
        .on_conflict_do_nothing(index_elements=["signature"]).returning(SeenSignature.signature)).first()
    return claimed is not None


def forget_expired_signatures(now: datetime) -> int:
    """Drop signatures whose timestamps could no longer be accepted anyway."""
    return db.session.execute(delete(SeenSignature).where(SeenSignature.expires_at < now)).rowcount


def authorizable_sources() -> list[DataSource]:
    """Filed, approved sources a resident may authorize (the app's own needs no consent)."""
    return list(db.session.scalars(
        select(DataSource)
        .where(DataSource.status == "approved", DataSource.code != APP_SOURCE_CODE)
        .order_by(DataSource.code)
    ))


def authorizations_of(account_id: int) -> list[SourceAuthorization]:
    return list(db.session.scalars(
        select(SourceAuthorization)
        .join(DataSource)
        .where(SourceAuthorization.account_id == account_id, SourceAuthorization.revoked_at.is_(None))
        .order_by(DataSource.code)
    ))


def authorize_source(account_id: int, code: str) -> SourceAuthorization:
    """Consent that `code` may report for this account; authorizing twice changes nothing."""
    source = source_by_code(code)
    if source.code == APP_SOURCE_CODE or source.status != "approved":
        raise NotFound("source_not_found", code=code)
    grant = db.session.get(SourceAuthorization, (account_id, source.id), with_for_update=True)
    now = utcnow()
    if grant is None:
        grant = SourceAuthorization(account_id=account_id, source_id=source.id, granted_at=now)
        db.session.add(grant)
    elif grant.revoked_at is not None:
        grant.revoked_at, grant.granted_at = None, now
    else:
        return grant  # given already: nothing changed, nothing to add to the history
    consents.record(account_id, source, "authorize", now)
    db.session.flush()
    return grant


def revoke_authorization(account_id: int, code: str) -> None:
    """Withdraw consent; events the source sends afterwards are refused."""
    source = source_by_code(code)
    grant = db.session.get(SourceAuthorization, (account_id, source.id), with_for_update=True)
    if grant is None or grant.revoked_at is not None:
        raise NotFound("authorization_not_found", code=code)
    grant.revoked_at = utcnow()
    consents.record(account_id, source, "withdraw", grant.revoked_at)
    db.session.flush()
