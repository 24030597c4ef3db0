"""The quantification pipeline on real PostgreSQL: 3,000 received events for 50 residents,
quantified twice (idempotent), by two threads at once (each event exactly once, caps and
tallies consistent, same results as one thread), and by a real Celery worker via Redis.
"""
import os
import random
import subprocess
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select, text

import accounting.quantification.tasks
from accounting.quantification.models import DailyTally, ReviewFlag
from accounting.quantification.tasks import quantify_received
from accounting.record.models import DataSource, GreenEvent
from accounting.record.rules import RECYCLING_CATEGORIES
from config.extensions import db
from config.settings import as_role
from tests.conftest import APP_ROLE, as_owner

ROOT = Path(__file__).resolve().parents[1]
SHANGHAI = ZoneInfo("Asia/Shanghai")
RESIDENTS, TRIPS_EACH, DROPS_EACH = 50, 48, 12
TOTAL = RESIDENTS * (TRIPS_EACH + DROPS_EACH)
ACCEPTED = ("quantified", "capped")


@pytest.fixture(autouse=True)
def _deferred(quantification_deferred):
    """Ingest only records; each test decides who quantifies and when."""


# --- private helpers -------------------------------------------------------------------------

def _shanghai(days_ago: int, minute_of_day: int) -> datetime:
    day = datetime.now(SHANGHAI).date() - timedelta(days=days_ago)
    midnight = datetime(day.year, day.month, day.day, tzinfo=SHANGHAI)
    return (midnight + timedelta(minutes=minute_of_day)).astimezone(timezone.utc)


def _trip(rng: random.Random, transit, number: str, external_id: str) -> dict:
    """A trip of any mode; some short, some too fast or too long, many overlapping, caps often hit."""
    mode = rng.choice(("bus", "metro", "bike", "ev", "walk"))
    minutes = rng.randint(1, 90)
    start = _shanghai(rng.randint(1, 4), rng.randint(6 * 60, 21 * 60))
    event = transit.trip_event(number, external_id, mode=mode, start=start, minutes=minutes,
                               distance_m=rng.randint(100, 110_000))
    if mode == "walk":
        event["steps"] = rng.randint(300, 15_000)
    return event


def _dataset(api, file_source, seed: int = 20261123) -> int:
    """Register the residents, authorize both sources, ingest every event in batches of 1,000."""
    transit, station = file_source("BZBUS", "transit"), file_source("BZRECY", "recycling")
    rng, trips, drops = random.Random(seed), [], []
    for r in range(RESIDENTS):
        resident = api.register()
        for code in ("BZBUS", "BZRECY"):
            assert api.http.put(f"/api/v1/me/sources/{code}", headers=resident.auth()).status_code == 200
        number = resident.account_number
        trips += [_trip(rng, transit, number, f"t-{r}-{i}") for i in range(TRIPS_EACH)]
        drops += [station.recycling_event(number, f"r-{r}-{i}", category=rng.choice(RECYCLING_CATEGORIES),
                                          weight_g=rng.randint(200, 12_000),
                                          occurred_at=_shanghai(rng.randint(1, 4), rng.randint(0, 24 * 60 - 1)))
                  for i in range(DROPS_EACH)]
    for source, events in ((transit, trips), (station, drops)):
        for first in range(0, len(events), 1000):
            response = source.post_events(events[first:first + 1000])
            assert response.status_code == 200 and response.get_json()["accepted"] == len(events[first:first + 1000])
    return len(trips) + len(drops)


def _received(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).where(GreenEvent.status == "received"))


def _full_rows(app) -> dict:
    """Every row of the tables quantification writes, as plain tuples."""
    with app.app_context():
        return {table.name: [tuple(row) for row in db.session.execute(select(table).order_by(*table.primary_key))]
                for table in (GreenEvent.__table__, DailyTally.__table__, ReviewFlag.__table__)}


def _results(app) -> tuple[dict, dict, set]:
    """Results by (source, external_id), tallies by (account, day), flags: comparable across runs."""
    with app.app_context():
        events = {(r.code, r.external_id): tuple(r)[2:] for r in db.session.execute(
            select(DataSource.code, GreenEvent.external_id, GreenEvent.status, GreenEvent.reduction_g,
                   GreenEvent.capped_g, GreenEvent.reason, GreenEvent.methodology_version_id, GreenEvent.factor,
                   GreenEvent.rationale).join(DataSource, GreenEvent.source_id == DataSource.id))}
        tallies = {(t.account_id, t.day): (t.trip_g, t.walk_g, t.recycling_weight_g, t.capped_g, t.implausible_count)
                   for t in db.session.scalars(select(DailyTally))}
        flags = {(f.account_id, f.day, f.code) for f in db.session.scalars(select(ReviewFlag))}
    return events, tallies, flags


def _reset_to_received(app) -> None:
    """Undo quantification (as the tables' owner: the app itself never deletes tallies or flags)."""
    with as_owner(app) as connection:
        connection.execute(text(
            "UPDATE green_events SET status = 'received', reduction_g = NULL, capped_g = NULL, reason = NULL, "
            "methodology_version_id = NULL, factor = NULL, rationale = NULL, quantified_at = NULL"))
        connection.execute(text("DELETE FROM review_flags"))
        connection.execute(text("DELETE FROM daily_tallies"))


def _quantify_in_threads(app, workers: int = 2) -> list[int]:
    barrier, totals, errors = threading.Barrier(workers), [], []

    def work():
        try:
            with app.app_context():
                barrier.wait()
                totals.append(quantify_received())
        except BaseException as error:  # reported below, with the thread's own traceback
            errors.append(error)

    threads = [threading.Thread(target=work) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    assert not any(thread.is_alive() for thread in threads)
    return totals


# Each (account, Shanghai day) as the events say it should be tallied.
EXPECTED_TALLIES = text("""
    SELECT account_id, (started_at AT TIME ZONE 'Asia/Shanghai')::date AS day,
           coalesce(sum(reduction_g) FILTER (WHERE kind = 'trip' AND status IN ('quantified', 'capped')), 0),
           coalesce(sum(reduction_g) FILTER (WHERE mode = 'walk' AND status IN ('quantified', 'capped')), 0),
           coalesce(sum(weight_g) FILTER (WHERE kind = 'recycling' AND status IN ('quantified', 'capped')), 0),
           coalesce(sum(capped_g) FILTER (WHERE status IN ('quantified', 'capped')), 0),
           count(*) FILTER (WHERE reason IN ('too_fast', 'trip_too_long'))
    FROM green_events GROUP BY 1, 2
""")

OVERLAPPING_ACCEPTED = text("""
    SELECT count(*) FROM green_events a JOIN green_events b ON a.account_id = b.account_id AND a.id < b.id
    WHERE a.kind = 'trip' AND b.kind = 'trip' AND a.status IN ('quantified', 'capped')
      AND b.status IN ('quantified', 'capped') AND a.started_at < b.ended_at AND b.started_at < a.ended_at
""")

CLASHES_WITHOUT_AN_EARLIER_TRIP = text("""
    SELECT count(*) FROM green_events r WHERE r.reason IN ('overlapping_trip', 'duplicate_claim') AND NOT EXISTS (
        SELECT 1 FROM green_events a WHERE a.account_id = r.account_id AND a.kind = 'trip' AND a.id < r.id
          AND a.status IN ('quantified', 'capped') AND a.started_at < r.ended_at AND r.started_at < a.ended_at
          AND (a.mode = r.mode) = (r.reason = 'duplicate_claim'))
""")


def _assert_consistent(app) -> None:
    """Nothing left received; tallies are the sums of their events; caps hold; no accepted overlaps."""
    assert _received(app) == 0
    _, tallies, _ = _results(app)
    with app.app_context():
        expected = {(row[0], row[1]): tuple(row[2:]) for row in db.session.execute(EXPECTED_TALLIES)}
        assert db.session.scalar(OVERLAPPING_ACCEPTED) == 0
        assert db.session.scalar(CLASHES_WITHOUT_AN_EARLIER_TRIP) == 0
        statuses = dict(db.session.execute(select(GreenEvent.status, func.count()).group_by(GreenEvent.status)).all())
    assert tallies == expected
    assert all(trip_g <= 3000 and walk_g <= 300 for trip_g, walk_g, *_ in tallies.values())
    # The dataset exercises every path: credited, capped and rejected.
    assert statuses.keys() == {"quantified", "capped", "rejected"}


# --- tests -----------------------------------------------------------------------------------------

def test_quantifying_twice_changes_nothing_the_second_time(app, api, file_source):
    assert _dataset(api, file_source) == TOTAL
    assert _received(app) == TOTAL
    with app.app_context():
        assert quantify_received() == TOTAL
    once = _full_rows(app)
    _assert_consistent(app)
    with app.app_context():
        assert quantify_received() == 0
    assert _full_rows(app) == once


def test_two_workers_at_once_quantify_each_event_exactly_once(app, api, file_source, monkeypatch):
    _dataset(api, file_source)
    # Small batches, so the two workers meet on the lanes' locks many times.
    small_batches = accounting.quantification.tasks.quantify_next_batch
    monkeypatch.setattr(accounting.quantification.tasks, "quantify_next_batch", lambda lane: small_batches(lane, limit=50))
    totals = _quantify_in_threads(app)
    assert sum(totals) == TOTAL  # every event read by exactly one worker
    _assert_consistent(app)
    concurrent = _results(app)

    monkeypatch.undo()
    _reset_to_received(app)
    with app.app_context():
        assert quantify_received() == TOTAL
    assert _results(app) == concurrent  # the same as one worker with full batches, event by event


def test_a_real_celery_worker_quantifies_what_the_broker_delivers(app, api, file_source, postgres_database,
                                                                     redis_url, tmp_path):
    celery_bin = ROOT / ".venv" / "bin" / "celery"
    if not celery_bin.exists():
        pytest.skip(f"no celery executable at {celery_bin}: install the project's dependencies into .venv")
    _dataset(api, file_source)
    celery_app = app.extensions["celery"]
    celery_app.control.purge()  # only the task sent below may reach the worker
    environ = os.environ | {"DATABASE_URL": as_role(postgres_database, APP_ROLE), "REDIS_URL": redis_url, "APP_ENV": "test",
                            "CELERY_TASKS_IN_PROCESS": "false"}
    log = (tmp_path / "worker.log").open("wb")
    worker = subprocess.Popen(
        [str(celery_bin), "-A", "wsgi.celery", "worker", "--pool=solo", "--concurrency=1", "-Q", "celery",
         "--loglevel=INFO", "--without-gossip", "--without-mingle", "--without-heartbeat"],
        cwd=ROOT, env=environ, stdout=log, stderr=subprocess.STDOUT)
    try:
        celery_app.send_task("accounting.quantify_received")
        deadline = time.monotonic() + 60
        while _received(app) and time.monotonic() < deadline and worker.poll() is None:
            time.sleep(0.25)
        remaining = _received(app)
    finally:
        worker.terminate()
        try:
            worker.wait(timeout=15)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()
        log.close()
    output = (tmp_path / "worker.log").read_text(errors="replace")
    assert remaining == 0, f"the worker left {remaining} events received; its log:\n{output[-4000:]}"
    _assert_consistent(app)
    by_worker = _results(app)
    _reset_to_received(app)
    with app.app_context():
        quantify_received()
    assert _results(app) == by_worker
