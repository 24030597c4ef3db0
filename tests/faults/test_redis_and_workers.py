"""Faults of Redis and of the workers, caused for real: Redis SIGKILLed under load, a worker riding
out a broker outage, workers SIGKILLed mid-quantification and mid-issuance. Each test asserts
that nothing acknowledged was lost or doubled, and that the platform recovered without a hand
(the sweeps beat runs, called here as beat calls them)."""
from datetime import timedelta

import psycopg
from sqlalchemy import func, select, text

from accounting.business_day import day_start, shanghai_day
from accounting.issuance.models import IssuanceBatch
from accounting.issuance.tasks import sweep_issuance
from accounting.ledger.models import JournalTransaction
from accounting.ledger.tasks import seal_audit_log
from accounting.ledger.verify import verify_registry
from accounting.quantification.tasks import quantify_received
from accounting.record.models import GreenEvent
from config.db_types import utcnow
from config.extensions import db
from tests.coupons_support import create_campaign, open_shop, staff
from tests.faults.conftest import wait_for
from tests.registry_support import add_reductions, open_accounts
from tests.support import ApiClient, SourceClient, ago


def _count(app, *where) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(GreenEvent).where(*where))


def _events_by_status(app) -> dict:
    with app.app_context():
        return dict(db.session.execute(select(GreenEvent.status, func.count()).group_by(GreenEvent.status)).all())


def _verified(app) -> bool:
    with app.app_context():
        seal_audit_log()
        return all(check["ok"] for check in verify_registry())


def _waiting_on_a_lock(owner_url: str) -> bool:
    """A session of the app's role is waiting for a lock in this database (the worker's task)."""
    with psycopg.connect(owner_url, autocommit=True) as connection:
        return bool(connection.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND usename = 'binzhou_app' AND wait_event_type = 'Lock'").fetchone()[0])


def _app_sessions(owner_url: str) -> int:
    with psycopg.connect(owner_url, autocommit=True) as connection:
        return connection.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                                  "AND usename = 'binzhou_app' AND state <> 'idle'").fetchone()[0]


def test_with_redis_down_every_write_still_answers_and_the_sweep_loses_nothing(fault_app, private_redis):
    api = ApiClient(fault_app)
    bus = SourceClient.filed(fault_app, "BZBUS", "transit")
    resident = api.register()
    assert api.http.put("/api/v1/me/sources/BZBUS", headers=resident.auth()).status_code == 200
    start = ago(days=1)
    assert api.trip(resident, mode="metro", distance_m=10_000, start=start).status_code == 202
    with fault_app.app_context():  # yesterday's trip quantified and issued, as the worker and beat would
        quantify_received()
        sweep_issuance()
    shop = open_shop(fault_app, api)
    campaign = create_campaign(api, shop, price_g=100)
    pending = api.http.post("/api/v1/merchants", headers=staff(fault_app, api, "merchant_staff"), json={
        "name": "渤海路书店", "district": "滨城区", "address": "渤海七路 1 号", "category": "goods"}).get_json()

    private_redis.kill()
    ready = api.http.get("/readyz")
    assert ready.status_code == 503 and ready.get_json()["status"] == "degraded"
    batch = [bus.trip_event(resident.account_number, f"outage-{n}", start=ago(hours=3 + n)) for n in range(5)]
    ingested = bus.post_events(batch)
    assert ingested.status_code == 200 and ingested.get_json()["accepted"] == 5
    assert api.trip(resident, mode="bike", distance_m=3000, start=ago(minutes=40)).status_code == 202
    signed_in = api.http.post("/api/v1/auth/login", json={"phone": resident.phone, "password": "correct horse battery"})
    assert signed_in.status_code == 200
    claimed = api.http.post(f"/api/v1/campaigns/{campaign['id']}/claim", headers=resident.auth())
    assert claimed.status_code == 201, claimed.get_json()
    approved = api.http.post(f"/api/v1/merchants/{pending['id']}/approve", headers=shop.auditor, json={})
    assert approved.status_code == 200, approved.get_json()
    assert _events_by_status(fault_app).get("received") == 6  # stored, waiting for a worker

    private_redis.start()
    assert api.http.get("/readyz").status_code == 200
    with fault_app.app_context():
        assert quantify_received() == 6  # beat's sweep
    assert _count(fault_app, GreenEvent.status == "received") == 0
    assert _count(fault_app) == 7  # one trip before, six during the outage: none lost, none doubled
    assert _verified(fault_app)


def test_the_worker_rides_out_a_broker_outage_and_catches_up(fault_app, fault_database, private_redis, start_worker):
    api = ApiClient(fault_app)
    resident = api.register()
    worker = start_worker()
    day = shanghai_day(utcnow()) - timedelta(days=2)
    # A task in flight when Redis dies: the day's issuance, held at its lock by this connection.
    holder = psycopg.connect(fault_database)
    holder.execute("SELECT pg_advisory_xact_lock(7303000, %s)", (day.toordinal(),))
    fault_app.extensions["celery"].send_task("registry.issue_day", args=[day.isoformat()])
    worker.wait_for_log(r"registry\.issue_day\[\S+\] received", "the worker to take the issuance")
    seen = len(worker.output())
    private_redis.kill()
    worker.wait_for_log("Connection to broker lost", "the worker to notice the outage", after=seen)
    holder.rollback()
    holder.close()
    seen = len(worker.output())
    private_redis.start()
    worker.wait_for_log("Connected to", "the worker to reconnect", after=seen)

    assert api.trip(resident, mode="bike", distance_m=3000, start=ago(minutes=50)).status_code == 202
    wait_for(lambda: _count(fault_app, GreenEvent.status == "received") == 0 and _count(fault_app) == 1,
             "the worker to quantify the trip sent after the outage")
    assert worker.process.poll() is None, worker.output()[-4000:]


def test_a_worker_killed_mid_quantification_leaves_its_batch_to_the_sweep(fault_app, fault_database, start_worker):
    api = ApiClient(fault_app)
    resident = api.register()
    # Yesterday from 10:00 in Shanghai: all five trips fall on one day, whatever time the test runs.
    start = day_start(shanghai_day(utcnow()) - timedelta(days=1)) + timedelta(hours=10)
    assert api.trip(resident, mode="bike", distance_m=3000, start=start).status_code == 202
    with fault_app.app_context():
        assert quantify_received() == 1  # the resident's day tally exists now
    for n in range(4):
        assert api.trip(resident, mode="bike", distance_m=3000, start=start + timedelta(minutes=20 * (n + 1))
                        ).status_code == 202
    # The quantifier writes the batch's results, then waits for the tally row held here.
    holder = psycopg.connect(fault_database)
    holder.execute("SELECT * FROM daily_tallies FOR UPDATE")
    worker = start_worker()
    fault_app.extensions["celery"].send_task("accounting.quantify_received")
    wait_for(lambda: _waiting_on_a_lock(fault_database), "the quantifier to wait on the tally")
    worker.kill()
    holder.rollback()
    holder.close()
    wait_for(lambda: _app_sessions(fault_database) == 0, "the killed worker's session to end")
    assert _count(fault_app, GreenEvent.status == "received") == 4  # nothing half-written
    with fault_app.app_context():
        assert quantify_received() == 4  # beat's sweep
    statuses = _events_by_status(fault_app)
    assert sum(statuses.values()) == 5 and "received" not in statuses
    with fault_app.app_context():
        tally = db.session.execute(text("SELECT trip_g FROM daily_tallies")).scalar()
        credited = db.session.scalar(select(func.sum(GreenEvent.reduction_g)))
    assert tally == credited  # the caps' memory counts each event once


def test_a_worker_killed_mid_issuance_leaves_the_day_to_the_sweep_which_issues_it_once(fault_app, fault_database,
                                                                                      start_worker):
    day = shanghai_day(utcnow()) - timedelta(days=2)
    with fault_app.app_context():
        (a_id, _), (b_id, _) = open_accounts(2)
        add_reductions(day, {a_id: 250, b_id: 130})
        db.session.commit()
    # Issuing locks the accounts, the issuance account last; this connection holds it.
    holder = psycopg.connect(fault_database)
    holder.execute("SELECT * FROM accounts WHERE number = 'SYSISSUANCE' FOR UPDATE")
    worker = start_worker()
    fault_app.extensions["celery"].send_task("registry.issue_day", args=[day.isoformat()])
    wait_for(lambda: _waiting_on_a_lock(fault_database), "the issuance to wait mid-way")
    worker.kill()
    holder.rollback()
    holder.close()
    wait_for(lambda: _app_sessions(fault_database) == 0, "the killed worker's session to end")
    with fault_app.app_context():
        assert db.session.scalar(select(func.count()).select_from(IssuanceBatch)) == 0  # nothing half-done
        assert db.session.scalar(select(func.count()).select_from(JournalTransaction)) == 0
        assert sweep_issuance()["days"] == [day.isoformat()]
        assert sweep_issuance() == {"issued": [], "days": []}  # again: nothing twice
        batches = db.session.execute(select(IssuanceBatch.status, IssuanceBatch.quantity_g)).all()
    assert batches == [("issued", 380)]
    assert _verified(fault_app)
