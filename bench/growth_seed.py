"""Seeding for bench/growth.py: residents (some signed up through the API), years of settled events
and a day of reductions, all set-based."""
import time
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import harness
import psycopg

SHANGHAI = ZoneInfo("Asia/Shanghai")
TRANSIT, RECYCLER = "BENCHBUS", "BENCHRECY"
PASSWORD = "growth-bench-2026"
HISTORY_NOTE = "bench: stored history"
CHUNK = 1_000_000


def vacuum(database_url: str) -> float:
    """VACUUM ANALYZE and CHECKPOINT: what autovacuum would have done (it may be off on a bench server)."""
    started = time.perf_counter()
    with psycopg.connect(database_url, autocommit=True) as connection:
        connection.execute("VACUUM ANALYZE")
        connection.execute("CHECKPOINT")
    return time.perf_counter() - started


def prepare(database_url: str, residents: int, users: int, chunk: int = 5000):
    """Two sources; `users` residents signed up through POST /auth/register (their access tokens kept),
    the rest opened set-based (the same rows); every one authorized both sources.

    Returns (account ids in order, transit source id, recycler source id, access tokens)."""
    from accounting.record.sources import authorize_source, file_source
    from api import create_app
    from config.extensions import db

    app = create_app(harness.app_environ(database_url))
    tokens, account_numbers = [], set()
    with app.app_context():
        transit, _, _ = file_source(TRANSIT, "transit", "bench transit", app.config["SECRET_KEY"])
        recycler, _, _ = file_source(RECYCLER, "recycling", "bench recycling", app.config["SECRET_KEY"])
        db.session.commit()
        source_ids = (transit.id, recycler.id)
        client = app.test_client()
        for n in range(users):
            response = client.post("/api/v1/auth/register", json={
                "phone": f"1390{n:07d}", "password": PASSWORD, "display_name": f"居民{n}", "district": "滨城区"})
            assert response.status_code == 201, response.get_json()
            body = response.get_json()
            tokens.append(body["access_token"])
            account_numbers.add(body["account"]["number"])
        from accounting.ledger.models import Account

        user_accounts = [a.id for a in db.session.query(Account).filter(Account.number.in_(account_numbers))]
        for account_id in user_accounts:
            for code in (TRANSIT, RECYCLER):
                authorize_source(account_id, code)
        db.session.commit()
    account_ids, numbers = sorted(user_accounts), set(account_numbers)
    account_ids += harness.insert_authorized_residents(database_url, residents - users, source_ids, numbers, chunk)
    return sorted(account_ids), *source_ids, tokens


def _trip_version(connection) -> int:
    return connection.execute(
        "SELECT v.id FROM methodology_versions v JOIN methodologies m ON m.id = v.methodology_id "
        "WHERE m.code = 'TRIP' AND v.version = 1").fetchone()[0]


STORED = """
INSERT INTO green_events (source_id, external_id, account_id, kind, mode, started_at, ended_at, distance_m, status,
                          reduction_g, capped_g, received_at, methodology_version_id, factor, rationale,
                          quantified_at, issuance_batch_id)
SELECT %(source)s, 'stored-' || g, a.ids[1 + g %% a.n], 'trip', 'bus', t.started, t.started + interval '20 minutes',
       4000, 'quantified', 20 + (g * 7919) %% 480, 0, t.started + interval '25 minutes', %(version)s, 'bus',
       %(note)s, t.started + interval '26 minutes', b.id
FROM (SELECT %(ids)s::bigint[] AS ids, cardinality(%(ids)s::bigint[]) AS n) a,
     generate_series(%(low)s::bigint, %(high)s::bigint) AS g,
     LATERAL (SELECT %(start)s::timestamptz + g * %(step)s * interval '1 second' AS started) t
     JOIN issuance_batches b ON b.vintage = (t.started AT TIME ZONE 'Asia/Shanghai')::date
                            AND b.decision_note = %(note)s
"""
BATCHES = """
INSERT INTO issuance_batches (methodology_version_id, vintage, batch_no, serial_prefix, status, quantity_g, capped_g,
                              accounts_count, events_count, proposed_at, auto_approved, decision_note)
SELECT %(version)s, d::date, 1, 'BZ-TRIP1-' || to_char(d, 'YYYYMMDD') || '-0001', 'rejected', 1, 0, 0, 0, now(),
       false, %(note)s
FROM generate_series(%(first)s::date, %(last)s::date, interval '1 day') AS d
"""
TALLIES = """
INSERT INTO daily_tallies (account_id, day, trip_g, walk_g, recycling_weight_g, capped_g, implausible_count)
SELECT account_id, (started_at AT TIME ZONE 'Asia/Shanghai')::date, sum(reduction_g), 0, 0, 0, 0
FROM green_events WHERE rationale = %(note)s AND account_id = ANY(%(ids)s::bigint[]) GROUP BY 1, 2
"""


def seed_stored(database_url: str, account_ids: list[int], total: int, now: datetime, prefix: str = "stored") -> int:
    """`total` settled trips over the 365 days ending 8 days ago (before the claim window), each day's in a
    rejected batch of that day; the months' partitions first, then a million rows a statement; the
    daily tallies they leave. Returns how many months they span."""
    end = now - timedelta(days=8)
    start = end - timedelta(days=365)
    first_day, last_day = start.astimezone(SHANGHAI).date(), end.astimezone(SHANGHAI).date()
    step = (end - start).total_seconds() / max(total, 1)
    with psycopg.connect(database_url) as connection:
        version = _trip_version(connection)
        source = connection.execute("SELECT id FROM data_sources WHERE code = %s", (TRANSIT,)).fetchone()[0]
        connection.execute("SELECT green_events_ensure_partitions(3, %s)", (first_day,))
        connection.execute("SELECT daily_tallies_ensure_partitions(3, %s)", (first_day,))
        connection.execute(BATCHES + " ON CONFLICT DO NOTHING",
                           {"version": version, "first": first_day, "last": last_day, "note": HISTORY_NOTE})
        connection.commit()
        for low in range(0, total, CHUNK):
            connection.execute(STORED.replace("'stored-'", f"'{prefix}-'"), {
                "source": source, "ids": account_ids, "low": low,
                                        "high": min(total, low + CHUNK) - 1, "start": start, "step": step,
                                        "version": version, "note": HISTORY_NOTE})
            connection.commit()
        connection.execute(TALLIES + " ON CONFLICT (account_id, day) DO UPDATE SET trip_g = excluded.trip_g",
                           {"note": HISTORY_NOTE, "ids": account_ids})
        connection.commit()
    return (last_day.year - first_day.year) * 12 + last_day.month - first_day.month + 1
