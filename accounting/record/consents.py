"""The consent history (PIPL): every authorization and withdrawal of a data source, with its time.

`SourceAuthorization` is the consent as it stands (what ingest checks); each change to it is also
appended here, by the same service call, so the history is whole whoever changed it.
"""
from datetime import datetime

from sqlalchemy import select

from accounting.record.models import ConsentEvent, DataSource, SourceAuthorization
from config.extensions import db


def record(account_id: int, source: DataSource, action: str, at: datetime, cause: str = "resident") -> None:
    db.session.add(ConsentEvent(account_id=account_id, source_id=source.id, action=action, cause=cause,
                                scope=source.kind, at=at))


def history_of(account_id: int, *, limit: int, before_id: int | None = None) -> list[ConsentEvent]:
    """A resident's authorizations and withdrawals, newest first."""
    query = select(ConsentEvent).where(ConsentEvent.account_id == account_id)
    if before_id is not None:
        query = query.where(ConsentEvent.id < before_id)
    return list(db.session.scalars(query.order_by(ConsentEvent.id.desc()).limit(limit)))


def withdraw_all(account_id: int, at: datetime, cause: str) -> int:
    """Withdraw every consent still given (an account closing); how many there were."""
    grants = list(db.session.scalars(
        select(SourceAuthorization).where(SourceAuthorization.account_id == account_id,
                                          SourceAuthorization.revoked_at.is_(None))
        .order_by(SourceAuthorization.source_id).with_for_update()))
    for grant in grants:
        grant.revoked_at = at
        record(account_id, grant.source, "withdraw", at, cause)
    db.session.flush()
    return len(grants)
