"""daily_tallies by month (migrations/versions/0013): quantification writes each day's tally into
its month's partition and caps from it; a month nobody created waits in the DEFAULT partition until
its month is made; the app's role creates months ahead and never drops one."""
from datetime import date, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa
from sqlalchemy import select

from accounting.business_day import SHANGHAI
from accounting.ledger.accounts import open_resident_account
from accounting.ledger.models import Account
from accounting.quantification.tasks import ensure_tally_months
from config.extensions import db
from tests.conftest import as_owner


def tally_partitions(app) -> set[str]:
    with as_owner(app) as connection:
        return set(connection.scalars(sa.text(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = 'daily_tallies'::regclass")))


def tallies_where(app, account_id: int) -> dict[date, tuple[str, int]]:
    """day → (the partition holding the tally, its trip_g)."""
    with as_owner(app) as connection:
        rows = connection.execute(sa.text(
            "SELECT day, tableoid::regclass::text, trip_g FROM daily_tallies WHERE account_id = :id"), {"id": account_id})
        return {day: (where, trip_g) for day, where, trip_g in rows}


def month_name(day: date) -> str:
    return f"daily_tallies_p{day:%Y%m}"


def noon_days_ago(days: int) -> datetime:
    day = datetime.now(SHANGHAI).date() - timedelta(days=days)
    return datetime(day.year, day.month, day.day, 12, tzinfo=SHANGHAI).astimezone(timezone.utc)


def test_the_month_partitions_around_today_exist_and_hold_the_key(app):
    this_month = datetime.now(SHANGHAI).date().replace(day=1)
    previous = (this_month - timedelta(days=1)).replace(day=1)
    names = tally_partitions(app)
    assert {"daily_tallies_default", month_name(previous), month_name(this_month)} <= names
    with as_owner(app) as connection:
        keys = set(connection.scalars(sa.text(
            "SELECT conrelid::regclass::text FROM pg_constraint WHERE contype = 'p' "
            "AND conrelid IN (SELECT inhrelid FROM pg_inherits WHERE inhparent = 'daily_tallies'::regclass)")))
    assert keys == names  # every month has the (account_id, day) key, so an upsert finds its row


def test_quantification_caps_from_the_tally_in_its_months_partition(app, api, resident):
    # Four 20 km metro trips of one day: 936 g each, the daily trip cap 3,000 g bites the fourth,
    # which only works if the first three's tally is found again where it was written.
    starts = [noon_days_ago(2) + timedelta(hours=n) for n in range(-3, 1)]
    for start in starts:
        assert api.trip(resident, mode="metro", start=start, minutes=30, distance_m=20_000).status_code == 202
    events = api.http.get("/api/v1/me/events?limit=10", headers=resident.auth()).get_json()["items"]
    assert sorted(event["reduction_g"] for event in events) == [192, 936, 936, 936]
    with app.app_context():
        account_id = db.session.scalar(select(Account.id).where(Account.number == resident.account_number))
    day = starts[0].astimezone(SHANGHAI).date()
    assert tallies_where(app, account_id) == {day: (month_name(day), 3000)}


def test_a_tally_of_a_month_without_a_partition_waits_in_default_then_moves_to_its_month(app):
    with app.app_context():
        account_id = open_resident_account("滨城区").id
        db.session.commit()
        # As the app's role, as quantification writes: a month long before any partition.
        db.session.execute(sa.text("INSERT INTO daily_tallies (account_id, day, trip_g, walk_g, recycling_weight_g, "
                                   "capped_g, implausible_count) VALUES (:id, DATE '2020-01-15', 700, 0, 0, 0, 0)"),
                           {"id": account_id})
        db.session.commit()
    assert tallies_where(app, account_id) == {date(2020, 1, 15): ("daily_tallies_default", 700)}
    result = app.test_cli_runner().invoke(args=["events", "partitions"])
    assert result.exit_code == 0, result.output
    assert "daily_tallies_p202001" in result.output
    assert tallies_where(app, account_id) == {date(2020, 1, 15): ("daily_tallies_p202001", 700)}
    with app.app_context():
        assert ensure_tally_months() == []  # nothing left in DEFAULT, every month ahead there
    # ...and beat makes the months ahead every night, beside the events' months.
    assert app.config["CELERY"]["beat_schedule"]["tally-partitions-ahead"]["task"] == ensure_tally_months.name


def test_the_app_role_creates_tally_months_ahead_but_never_drops_one(app):
    with app.app_context():
        created = db.session.scalars(sa.text("SELECT daily_tallies_ensure_partitions(8)")).all()
        db.session.commit()
        furthest = max(name for name in tally_partitions(app) if name != "daily_tallies_default")
        assert furthest in created
        for statement in (f"DROP TABLE {furthest}", f"ALTER TABLE daily_tallies DETACH PARTITION {furthest}",
                          "TRUNCATE daily_tallies", "DELETE FROM daily_tallies",
                          "SELECT daily_tallies_create_partition(DATE '2019-01-01')"):
            with pytest.raises(sa.exc.ProgrammingError, match="must be owner|permission denied"):
                db.session.execute(sa.text(statement))
            db.session.rollback()
    assert furthest in tally_partitions(app)
