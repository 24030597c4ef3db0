"""green_events by month: partitions and their indexes, the DEFAULT safety net, the duplicate guard
across months, archiving a settled month to a file and restoring it (migrations/versions/0009,
accounting/record/archive.py, `flask events …`)."""
from datetime import date, datetime, time, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy import select

from accounting.business_day import SHANGHAI, shanghai_day
from accounting.issuance import trace
from accounting.issuance.models import IssuanceBatch
from accounting.ledger.accounts import open_resident_account
from accounting.ledger.models import Account
from accounting.ledger.verify import verify_registry
from accounting.record import recording
from accounting.record.models import DataSource, GreenEvent
from accounting.record.recording import insert_new_events
from config.extensions import db
from tests.conftest import as_owner
from tests.console_support import PASSWORD, signed_in, staff
from tests.registry_support import add_reductions, failed, issue
from tests.support import ApiClient, SourceClient

PARENT_INDEXES = ("pk_green_events", "ix_green_events_account_id_id", "ix_green_events_account_id_started_at",
                  "ix_green_events_received_lane", "ix_green_events_unbatched", "ix_green_events_issuance_batch_id")


def scalar(app, query: str, **params):
    with as_owner(app) as connection:
        return connection.execute(sa.text(query), params).scalar()


def partitions(app) -> set[str]:
    with as_owner(app) as connection:
        return set(connection.scalars(sa.text(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = 'green_events'::regclass")))


def where_is(app, event_id: int) -> str:
    return scalar(app, "SELECT tableoid::regclass::text FROM green_events WHERE id = :id", id=event_id)


def app_source_id() -> int:
    return db.session.scalar(select(DataSource.id).where(DataSource.code == "APP"))


def trip_row(account_id: int, external_id: str, started_at: datetime, source_id: int) -> dict:
    return {"source_id": source_id, "external_id": external_id, "account_id": account_id, "kind": "trip",
            "mode": "bus", "category": None, "started_at": started_at, "ended_at": started_at + timedelta(minutes=20),
            "distance_m": 5000, "steps": None, "weight_g": None, "station_id": None, "status": "received",
            "received_at": started_at + timedelta(minutes=30)}


def noon(day: date) -> datetime:
    return datetime.combine(day, time(12), SHANGHAI)


@pytest.fixture
def archive_dir(app, tmp_path, monkeypatch):
    monkeypatch.setitem(app.config, "EVENTS_ARCHIVE_DIR", str(tmp_path))
    return tmp_path


def test_every_month_ahead_has_its_partition_with_every_index_of_the_parent(app):
    this_month = shanghai_day(datetime.now(SHANGHAI)).replace(day=1)
    months, month = [], this_month
    for _ in range(4):  # this month and the three the migration creates ahead
        months.append(f"green_events_p{month:%Y%m}")
        month = (month + timedelta(days=32)).replace(day=1)
    present = partitions(app)
    assert set(months) | {"green_events_default"} <= present
    with as_owner(app) as connection:
        for index in PARENT_INDEXES:
            children = set(connection.scalars(sa.text(
                "SELECT t.relname FROM pg_inherits i JOIN pg_index x ON x.indexrelid = i.inhrelid "
                "JOIN pg_class t ON t.oid = x.indrelid WHERE i.inhparent = CAST(:index AS regclass)"),
                {"index": index}))
            assert children == present, index
        assert connection.scalar(sa.text(
            "SELECT reloptions::text FROM pg_class WHERE relname = :name"), {"name": months[1]}) == \
            "{autovacuum_vacuum_scale_factor=0.02,autovacuum_analyze_scale_factor=0.01}"


def test_an_event_of_a_month_without_a_partition_lands_in_default_and_moves_to_its_month(app):
    with app.app_context():
        account_id = open_resident_account("滨城区").id
        [event_id] = insert_new_events([trip_row(account_id, "old-1", noon(date(2024, 6, 15)), app_source_id())])
        db.session.commit()
    assert "green_events_p202406" not in partitions(app)
    assert where_is(app, event_id) == "green_events_default"

    result = app.test_cli_runner().invoke(args=["events", "partitions", "--ahead", "2"])
    assert result.exit_code == 0, result.output
    assert "green_events_p202406" in result.output
    assert where_is(app, event_id) == "green_events_p202406"
    assert scalar(app, "SELECT count(*) FROM green_events_default") == 0
    again = app.test_cli_runner().invoke(args=["events", "partitions", "--ahead", "2"])
    assert again.exit_code == 0 and "every month is there already" in again.output


def test_a_resend_is_a_duplicate_whatever_month_it_claims(app):
    source = SourceClient.filed(app, "PARTBUS", "transit")
    resident = ApiClient(app).register()
    with app.app_context():
        from accounting.record.sources import authorize_source

        account_id = db.session.scalar(select(Account.id).where(Account.number == resident.account_number))
        authorize_source(account_id, "PARTBUS")
        source_id = db.session.scalar(select(DataSource.id).where(DataSource.code == "PARTBUS"))
        db.session.commit()
    first = source.post_events([source.trip_event(resident.account_number, "bus-77", start=datetime.now(SHANGHAI)
                                                  - timedelta(hours=3))])
    assert first.get_json()["accepted"] == 1
    resent = source.post_events([source.trip_event(resident.account_number, "bus-77", start=datetime.now(SHANGHAI)
                                                   - timedelta(days=2))])
    assert resent.get_json()["accepted"] == 0 and resent.get_json()["duplicates"] == 1

    with app.app_context():
        # The same key with times in two other months: still the one event.
        rows = [trip_row(account_id, "bus-77", noon(date(2025, 3, 3)), source_id),
                trip_row(account_id, "bus-78", noon(date(2025, 4, 3)), source_id),
                trip_row(account_id, "bus-78", noon(date(2025, 5, 3)), source_id)]
        assert len(insert_new_events(rows)) == 1
        db.session.commit()
        # Any other writer is held to the keys too (the statement trigger): refused, nothing written.
        with pytest.raises(sa.exc.IntegrityError):
            db.session.execute(sa.insert(GreenEvent.__table__), [
                trip_row(account_id, "bus-79", noon(date(2025, 6, 3)), source_id),
                trip_row(account_id, "bus-78", noon(date(2025, 7, 3)), source_id)])
        db.session.rollback()
        assert db.session.scalar(select(sa.func.count()).select_from(GreenEvent)
                                 .where(GreenEvent.account_id == account_id)) == 2
        # An event's key and time are fixed once recorded.
        with pytest.raises(sa.exc.IntegrityError):
            db.session.execute(sa.update(GreenEvent.__table__).where(GreenEvent.external_id == "bus-78")
                               .values(started_at=noon(date(2025, 4, 4))))
        db.session.rollback()


def test_archive_refuses_a_month_not_settled(app, archive_dir):
    with app.app_context():
        account_id = open_resident_account("滨城区").id
        add_reductions(date(2024, 3, 10), {account_id: 120})  # quantified, in no batch
        insert_new_events([trip_row(account_id, "late-1", noon(date(2024, 3, 11)), app_source_id())])
        db.session.commit()
    result = app.test_cli_runner().invoke(args=["events", "archive", "--before", "2024-04"])
    assert result.exit_code != 0
    assert "2024-03" in result.output and "1 event(s) still received" in result.output
    assert "1 reduction(s) neither issued nor in a rejected batch" in result.output
    assert "green_events_p202403" in partitions(app)
    assert list(archive_dir.iterdir()) == []


def test_archive_and_restore_a_month(app, archive_dir):
    client = ApiClient(app)
    resident = client.register()
    day = date(2025, 1, 14)
    with app.app_context():
        account_id = db.session.scalar(select(Account.id).where(Account.number == resident.account_number))
        other = open_resident_account("滨城区").id
        issued = issue(day, {account_id: 700, other: 300})
        assert issued["issued"]
        add_reductions(day + timedelta(days=1), {account_id: 0})  # nothing to issue: settled as it is
        db.session.commit()
        batch = db.session.scalar(select(IssuanceBatch).where(IssuanceBatch.vintage == day))
        serial = f"{batch.serial_prefix}-{1:09d}"
        before = sorted(tuple(row) for row in db.session.execute(select(GreenEvent.__table__)))
    assert client.trip(resident).status_code == 202  # an event of today, which stays
    listed = client.http.get("/api/v1/me/events?limit=50", headers=resident.auth()).get_json()["items"]
    assert len(listed) == 3

    result = app.test_cli_runner().invoke(args=["events", "archive", "--before", "2025-02"])
    assert result.exit_code == 0, result.output
    archived = archive_dir / "green_events-2025-01.csv.gz"
    assert "2025-01: 3 events" in result.output and archived.exists()
    assert (archive_dir / "green_events-2025-01.csv.gz.sha256").read_text().endswith("  green_events-2025-01.csv.gz\n")
    assert "green_events_p202501" not in partitions(app)
    listed = client.http.get("/api/v1/me/events?limit=50", headers=resident.auth()).get_json()["items"]
    assert [item["status"] for item in listed] in (["received"], ["quantified"])
    with app.app_context():
        assert failed(verify_registry()) == []
        traced = trace.trace_unit(serial)
        assert traced["event"] is None
        assert traced["events_archived"] == {"month": "2025-01", "file_name": archived.name}
        # The keys stay: a resend of an archived event is still a duplicate.
        source_id, external_id = before[0][1], before[0][2]
        assert insert_new_events([trip_row(account_id, external_id, noon(date(2025, 1, 20)), source_id)]) == []
        db.session.rollback()
    assert scalar(app, "SELECT count(*) FROM audit_records WHERE action = 'events_archived' "
                       "AND subject = 'events:2025-01'") == 1
    # The auditor's trace, in the API and in the console, names the file instead of the event.
    staff(app, "13900000077")
    console = signed_in(app, "13900000077")
    assert "2025-01 的绿色行为已归档至 green_events-2025-01.csv.gz" in console.page(f"/console/units/{serial}")
    token = client.http.post("/api/v1/auth/login", json={"phone": "13900000077", "password": PASSWORD}).get_json()
    traced = client.http.get(f"/api/v1/registry/units/{serial}",
                             headers={"Authorization": f"Bearer {token['access_token']}"}).get_json()
    assert traced["event"] is None and traced["events_archived"]["file_name"] == archived.name

    refused = app.test_cli_runner().invoke(args=["events", "restore", "2025-02"])
    assert refused.exit_code != 0 and "2025-02 is not archived" in refused.output
    restored = app.test_cli_runner().invoke(args=["events", "restore", "2025-01"])
    assert restored.exit_code == 0, restored.output
    assert "2025-01: 3 events restored" in restored.output
    assert "green_events_p202501" in partitions(app)
    with app.app_context():
        after = sorted(tuple(row) for row in db.session.execute(
            select(GreenEvent.__table__).where(GreenEvent.started_at < datetime(2025, 2, 1, tzinfo=SHANGHAI))))
        assert after == before
        assert failed(verify_registry()) == []
        assert trace.trace_unit(serial)["event"].account_id == account_id
        assert trace.trace_unit(serial)["events_archived"] is None
    assert scalar(app, "SELECT count(*) FROM audit_records WHERE action = 'events_restored'") == 1
    assert len(client.http.get("/api/v1/me/events?limit=50", headers=resident.auth()).get_json()["items"]) == 3


def test_restore_refuses_a_file_that_changed(app, archive_dir):
    with app.app_context():
        account_id = open_resident_account("滨城区").id
        issue(date(2024, 11, 5), {account_id: 50})
    assert app.test_cli_runner().invoke(args=["events", "archive", "--before", "2024-12"]).exit_code == 0
    path = archive_dir / "green_events-2024-11.csv.gz"
    path.write_bytes(path.read_bytes() + b"\0")
    refused = app.test_cli_runner().invoke(args=["events", "restore", "2024-11"])
    assert refused.exit_code != 0 and "not the file that was archived" in refused.output
    assert "green_events_p202411" not in partitions(app)


def test_the_app_role_creates_months_ahead_and_ingests_but_never_drops_one(app):
    with app.app_context():
        db.session.execute(sa.text("SELECT green_events_ensure_partitions(5)"))
        db.session.commit()
        furthest = max(name for name in partitions(app) if name != "green_events_default")
        for statement in (f"DROP TABLE {furthest}", f"ALTER TABLE green_events DETACH PARTITION {furthest}",
                          "TRUNCATE green_events", "DELETE FROM event_keys", "UPDATE event_keys SET event_id = 0",
                          "SELECT green_events_create_partition(DATE '2020-01-01')",
                          "INSERT INTO event_archives VALUES (DATE '2020-01-01', 'x', 0, 'x', 'x', now())"):
            with pytest.raises(sa.exc.ProgrammingError, match="must be owner|permission denied"):
                db.session.execute(sa.text(statement))
            db.session.rollback()
    assert furthest in partitions(app)


def _page_plans(connection) -> dict[str, tuple[int, int]]:
    """The prepared pages of a resident's events on this connection: name → (generic, custom) plans so far."""
    rows = connection.execute("SELECT name, generic_plans, custom_plans FROM pg_prepared_statements "
                              "WHERE statement LIKE '%WHERE green_events.account_id = $1::BIGINT%"
                              "ORDER BY green_events.id DESC%LIMIT%'").fetchall()
    return {name: (generic, custom) for name, generic, custom in rows}


def test_a_residents_page_of_events_runs_on_the_prepared_generic_plan(app):
    # Planning a page over every month cost more than reading it once the months were large (see
    # accounting/record/recording.py): the page's statement is only ever run on its generic plan,
    # and the setting does not outlive the read.
    with app.app_context():
        account_id = open_resident_account("滨城区").id
        connection = db.session.connection().connection.driver_connection
        before = _page_plans(connection)  # the pooled connection may have read pages in earlier tests
        for before_id in (None, 10**12):
            for _ in range(8):  # psycopg prepares a statement from its sixth execution on a connection
                assert recording.events_of_account(account_id, limit=21, before_id=before_id) == []
        after = _page_plans(connection)
        added = {name: (generic - before.get(name, (0, 0))[0], custom - before.get(name, (0, 0))[1])
                 for name, (generic, custom) in after.items()}
        assert sum(generic for generic, _ in added.values()) >= 2 and all(
            custom == 0 for _, custom in added.values()), (before, after)
        assert connection.execute("SHOW plan_cache_mode").fetchone()[0] == "auto"
        db.session.rollback()
