"""Bureau reading of the record: quantification results by date, mode, category, district,
source and status, and totals grouped the same ways."""
from datetime import date, timedelta

from sqlalchemy import func, literal_column, or_, select

from accounting.business_day import day_start
from accounting.ledger.models import Account, Holder
from accounting.record.models import DataSource, GreenEvent
from config.extensions import db

GROUPINGS = ("day", "mode", "category", "district", "source", "status")


def _filtered(query, *, day_from=None, day_to=None, kind=None, mode=None, category=None, district=None,
              source=None, status=None):
    if day_from:
        query = query.where(GreenEvent.started_at >= day_start(day_from))
    if day_to:
        query = query.where(GreenEvent.started_at < day_start(day_to + timedelta(days=1)))
    for column, value in ((GreenEvent.kind, kind), (GreenEvent.mode, mode), (GreenEvent.category, category),
                          (Holder.district, district), (DataSource.code, source), (GreenEvent.status, status)):
        if value is not None:
            query = query.where(column == value)
    return query


def _joined(query):
    return (query.join(Account, Account.id == GreenEvent.account_id)
            .join(Holder, Holder.id == Account.holder_id)
            .join(DataSource, DataSource.id == GreenEvent.source_id))


def find_events(*, limit: int, before_id: int | None = None, **filters) -> list:
    """Events matching the filters, newest first, with account number and district."""
    query = _filtered(_joined(select(GreenEvent, Account.number, Holder.district)), **filters)
    if before_id is not None:
        query = query.where(GreenEvent.id < before_id)
    return db.session.execute(query.order_by(GreenEvent.id.desc()).limit(limit)).all()


def _shanghai_day(column):
    """The Asia/Shanghai day of a stored time, computed by the database (accounting.business_day's rule)."""
    return func.date(func.timezone("Asia/Shanghai", column))


def summary(group_by: str, **filters) -> list[dict]:
    """Event count, reduction and capped grams per group."""
    key = {
        "day": _shanghai_day(GreenEvent.started_at), "mode": GreenEvent.mode, "category": GreenEvent.category,
        "district": Holder.district, "source": DataSource.code, "status": GreenEvent.status,
    }[group_by].label("key")
    query = _filtered(_joined(select(
        key, func.count().label("events"),
        func.coalesce(func.sum(GreenEvent.reduction_g), 0).label("reduction_g"),
        func.coalesce(func.sum(GreenEvent.capped_g), 0).label("capped_g"),
    )), **filters).group_by(literal_column("key")).order_by(literal_column("key"))
    return [
        {"key": str(row.key) if row.key is not None else None, "events": row.events,
         "reduction_g": int(row.reduction_g), "capped_g": int(row.capped_g)}
        for row in db.session.execute(query)
    ]


def daily_reductions(key: str, days: int, today: date) -> dict[date, dict[str, int]]:
    """day → {mode or category → grams credited} for the last `days` Asia/Shanghai days."""
    return daily_reductions_by((key,), days, today)[key]


def daily_reductions_by(keys: tuple[str, ...], days: int, today: date) -> dict[str, dict[date, dict[str, int]]]:
    """daily_reductions for several keys ("mode", "category") in one pass over the events."""
    columns = [{"mode": GreenEvent.mode, "category": GreenEvent.category}[key] for key in keys]
    first = today - timedelta(days=days - 1)
    day = _shanghai_day(GreenEvent.started_at).label("day")
    rows = db.session.execute(
        select(day, *columns, func.sum(GreenEvent.reduction_g))
        .where(GreenEvent.started_at >= day_start(first), or_(*(column.is_not(None) for column in columns)),
               GreenEvent.status.in_(("quantified", "capped", "issued")))
        .group_by(literal_column("day"), *columns)).all()
    results = {key: {first + timedelta(days=n): {} for n in range(days)} for key in keys}
    for row in rows:
        row_day, grams = date.fromisoformat(str(row[0])), int(row[-1] or 0)
        for key, name in zip(keys, row[1:-1]):
            if name is not None:
                bucket = results[key].setdefault(row_day, {})
                bucket[name] = bucket.get(name, 0) + grams
    return results
