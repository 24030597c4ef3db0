"""Recording green actions (记录): the app's own trips and sources' signed bulk reports.

Events arrive shape-checked by the API; here they meet the rules that need the database
(who the account is, whether it authorized the source, which station) and are written
with one multi-row INSERT ... ON CONFLICT DO NOTHING, so a replayed batch records nothing
twice and one bad event never sinks the others.
"""
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite

from accounting.errors import Conflict, DomainError
from accounting.event_rules import time_errors
from accounting.models import Account, DataSource, GreenEvent, Holder, SourceAuthorization, Station
from accounting.sources import APP_SOURCE_CODE
from config.extensions import db

EVENT_TABLE = GreenEvent.__table__


@dataclass
class IngestOutcome:
    accepted: int = 0
    duplicates: int = 0
    # (index in the batch, {field: error code})
    rejected: list[tuple[int, dict[str, str]]] = field(default_factory=list)


def _insert_ignoring_duplicates():
    dialect = db.session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return insert(EVENT_TABLE).on_conflict_do_nothing(index_elements=["source_id", "external_id"])


def _trip_row(report: dict) -> dict:
    return {
        "kind": "trip", "mode": report["mode"], "category": None,
        "started_at": report["started_at"], "ended_at": report["ended_at"],
        "distance_m": report.get("distance_m"), "steps": report.get("steps"),
        "weight_g": None, "station_id": None,
    }


def _recycling_row(report: dict, station_id: int | None) -> dict:
    return {
        "kind": "recycling", "mode": None, "category": report["category"],
        "started_at": report["occurred_at"], "ended_at": report["occurred_at"],
        "distance_m": None, "steps": None, "weight_g": report["weight_g"], "station_id": station_id,
    }


def _action_times(report: dict) -> tuple[datetime, datetime]:
    if report["kind"] == "trip":
        return report["started_at"], report["ended_at"]
    return report["occurred_at"], report["occurred_at"]


def app_source_id() -> int:
    return db.session.scalar(select(DataSource.id).where(DataSource.code == APP_SOURCE_CODE))


def record_trip(account_id: int, report: dict, external_id: str, *, now: datetime) -> tuple[GreenEvent, bool]:
    """Record a trip the resident's own app measured; the same external_id again is the same event."""
    errors = time_errors(report["started_at"], report["ended_at"], now)
    if errors:
        raise DomainError("invalid_event", errors=errors)
    source_id = app_source_id()
    row = _trip_row(report) | {
        "source_id": source_id, "external_id": external_id, "account_id": account_id,
        "status": "received", "received_at": now,
    }
    inserted = db.session.execute(_insert_ignoring_duplicates().returning(EVENT_TABLE.c.id), [row]).scalars().all()
    event = db.session.scalar(
        select(GreenEvent).where(GreenEvent.source_id == source_id, GreenEvent.external_id == external_id)
    )
    if event.account_id != account_id:  # another resident's id space never leaks into this one
        raise Conflict("external_id_taken")
    return event, bool(inserted)


def ingest_events(source: DataSource, reports: list[tuple[int, dict]], *, now: datetime) -> IngestOutcome:
    """Record a source's batch of shape-checked reports; returns per-event outcome counts."""
    outcome = IngestOutcome()
    numbers = {report["account_number"] for _, report in reports}
    accounts = dict(db.session.execute(
        select(Account.number, Account.id).join(Holder)
        .where(Account.number.in_(numbers), Account.kind == "holder", Holder.closed_at.is_(None))
    ).all()) if numbers else {}
    authorized = set(db.session.scalars(
        select(SourceAuthorization.account_id).where(
            SourceAuthorization.source_id == source.id,
            SourceAuthorization.revoked_at.is_(None),
            SourceAuthorization.account_id.in_(accounts.values()),
        )
    )) if accounts else set()
    station_codes = {r["station_code"] for _, r in reports if r["kind"] == "recycling"} - {source.code}
    stations = dict(db.session.execute(
        select(Station.code, Station.id).where(Station.source_id == source.id, Station.code.in_(station_codes))
    ).all()) if station_codes else {}

    rows, seen = [], set()
    for index, report in reports:
        errors = time_errors(*_action_times(report), now)
        account_id = accounts.get(report["account_number"])
        if account_id is None:
            errors["account_number"] = "unknown_account"
        elif account_id not in authorized:
            errors["account_number"] = "source_not_authorized"
        station_id = None
        if report["kind"] == "recycling" and report["station_code"] != source.code:
            station_id = stations.get(report["station_code"])
            if station_id is None:
                errors["station_code"] = "unknown_station"
        if errors:
            outcome.rejected.append((index, errors))
            continue
        if report["external_id"] in seen:  # the same event twice in one batch is one event
            outcome.duplicates += 1
            continue
        seen.add(report["external_id"])
        shape = _trip_row(report) if report["kind"] == "trip" else _recycling_row(report, station_id)
        rows.append(shape | {
            "source_id": source.id, "external_id": report["external_id"], "account_id": account_id,
            "status": "received", "received_at": now,
        })
    if rows:
        inserted = db.session.execute(_insert_ignoring_duplicates().returning(EVENT_TABLE.c.id), rows).all()
        outcome.accepted = len(inserted)
        outcome.duplicates += len(rows) - len(inserted)
    return outcome


def events_of_account(account_id: int, *, limit: int, before_id: int | None = None, status: str | None = None):
    """A page of an account's events, newest first, keyset-paginated by id."""
    query = select(GreenEvent).where(GreenEvent.account_id == account_id)
    if before_id is not None:
        query = query.where(GreenEvent.id < before_id)
    if status is not None:
        query = query.where(GreenEvent.status == status)
    return list(db.session.scalars(query.order_by(GreenEvent.id.desc()).limit(limit)))
