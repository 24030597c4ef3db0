"""Faults of PostgreSQL, caused for real on the suite's own server: its connections terminated,
the server itself restarted, and a row lock held while a web request needs the row."""
import time

import psycopg

from accounting.business_day import shanghai_day
from accounting.issuance.tasks import run_issuance_day
from accounting.quantification.tasks import quantify_received
from config.extensions import db
from tests.conftest import build_app
from tests.support import ApiClient, ago

PROBLEM = "application/problem+json"


def _terminate_app_sessions(owner_url: str) -> int:
    # Each termination waits (up to 5 s) for its session to end: the server's goodbye is on the
    # socket before the next request checks the connection out.
    with psycopg.connect(owner_url, autocommit=True) as connection:
        return connection.execute(
            "SELECT count(pg_terminate_backend(pid, 5000)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()").fetchone()[0]


def test_terminated_connections_and_a_restarted_server_cost_no_request(fault_app, fault_database, private_postgres):
    api = ApiClient(fault_app)
    resident = api.register()
    me = "/api/v1/me"
    assert api.http.get(me, headers=resident.auth()).status_code == 200
    assert _terminate_app_sessions(fault_database) >= 1  # the app's pooled connection among them
    assert api.http.get(me, headers=resident.auth()).status_code == 200  # pinged, found dead, replaced

    private_postgres.stop()
    down = api.http.get(me, headers=resident.auth())
    assert down.status_code == 503 and down.mimetype == PROBLEM
    assert down.get_json()["code"] == "database_unavailable" and down.headers["Retry-After"]
    assert api.http.get("/healthz").status_code == 200
    assert api.http.get("/readyz").status_code == 503
    private_postgres.start()
    assert api.http.get(me, headers=resident.auth()).status_code == 200
    assert api.http.post("/api/v1/auth/register", json={
        "phone": "13800999001", "password": "correct horse battery", "display_name": "重启之后"}).status_code == 201


def test_a_held_lock_answers_a_retryable_503_within_seconds_while_healthz_answers(fault_database):
    app = build_app(fault_database, None, environ={"PROCESS_ROLE": "web", "WEB_LOCK_TIMEOUT_MS": "500"})
    api = ApiClient(app)
    alice, bob = api.register(), api.register()
    start = ago(days=1)
    assert api.trip(alice, mode="metro", distance_m=10_000, start=start).status_code == 202
    with app.app_context():
        quantify_received()
        run_issuance_day(shanghai_day(start))
    transfer = {"to_account_number": bob.account_number, "amount_g": 10}

    holder = psycopg.connect(fault_database)  # someone else holds alice's account row
    holder.execute("SELECT * FROM accounts WHERE number = %s FOR UPDATE", (alice.account_number,))
    started = time.monotonic()
    busy = api.http.post("/api/v1/transfers", json=transfer, headers=alice.auth())
    waited = time.monotonic() - started
    assert busy.status_code == 503 and busy.mimetype == PROBLEM, busy.get_json()
    assert busy.get_json()["code"] == "database_busy" and busy.headers["Retry-After"] == "1"
    assert waited < 5  # the lock timeout, not a web worker held until gunicorn kills it
    assert api.http.get("/healthz").status_code == 200
    holder.rollback()
    holder.close()
    sent = api.http.post("/api/v1/transfers", json=transfer, headers=alice.auth())
    assert sent.status_code == 201, sent.get_json()
    assert api.http.get("/api/v1/me", headers=alice.auth()).get_json()["account"]["balance_g"] == 468 - 10
    with app.app_context():
        db.session.remove()
        db.engine.dispose()
    app.extensions["celery"].set_default()


def test_issuance_waits_its_own_longer_bound(fault_database):
    """Outside the web (workers, the CLI) the bounds are minutes: a day's issuance is never cut short."""
    app = build_app(fault_database, None)
    with app.app_context():
        timeouts = db.session.execute(db.text("SELECT current_setting('statement_timeout'), "
                                              "current_setting('lock_timeout')")).one()
        db.session.remove()
        db.engine.dispose()
    assert tuple(timeouts) == ("15min", "1min")
