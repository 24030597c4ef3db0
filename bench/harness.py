"""Shared benchmark plumbing: a fresh migrated PostgreSQL database and a gunicorn server."""
import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from datetime import datetime, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import psycopg
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent
ADMIN_URL = os.environ.get("BENCH_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
sys.path.insert(0, str(ROOT))


def fresh_database(name: str) -> str:
    """Create (or recreate) a database and migrate it to head; returns its URL."""
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
    url = make_url_for(name)
    subprocess.run([str(ROOT / ".venv/bin/flask"), "--app", "wsgi", "db", "upgrade"], cwd=ROOT,
                   env=app_environ(url), check=True, capture_output=True)
    return url


def make_url_for(name: str) -> str:
    """The URL of database `name` on the admin connection's server."""
    return make_url(ADMIN_URL).set(database=name).render_as_string(hide_password=False)


def drop_database(name: str) -> None:
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def app_environ(database_url: str) -> dict:
    return os.environ | {
        "DATABASE_URL": database_url, "REDIS_URL": REDIS_URL, "APP_ENV": "development",
        "LOGIN_PHONE_RATE_LIMIT": "1000000 per minute", "LOGIN_ADDRESS_RATE_LIMIT": "1000000 per minute",
        "REGISTER_RATE_LIMIT": "1000000 per minute", "ARGON2_TIME_COST": "1", "ARGON2_MEMORY_KIB": "1024",
    }


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def gunicorn(database_url: str, workers: int):
    """Serve wsgi:app with gunicorn on a free loopback port; yields the base URL."""
    port = free_port()
    process = subprocess.Popen(
        [str(ROOT / ".venv/bin/gunicorn"), "-c", "platform/gunicorn.conf.py", "--workers", str(workers),
         "--bind", f"127.0.0.1:{port}", "--log-level", "warning", "wsgi:app"],
        cwd=ROOT, env=app_environ(database_url),
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(base + "/healthz", timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        else:
            raise RuntimeError("gunicorn did not start")
        yield base
    finally:
        process.terminate()
        process.wait(timeout=20)


SHANGHAI = ZoneInfo("Asia/Shanghai")

RESIDENT_ACCOUNTS = """
    WITH h AS (
        INSERT INTO holders (kind, district, created_at)
        SELECT 'resident', '滨城区', now() FROM generate_series(1, %(size)s) RETURNING id),
    n AS (SELECT id, row_number() OVER (ORDER BY id) AS i FROM h)
    INSERT INTO accounts (number, kind, holder_id, balance_g, created_at)
    SELECT number, 'holder', n.id, 0, now()
    FROM n JOIN unnest(%(numbers)s::text[]) WITH ORDINALITY AS u(number, i) USING (i)
    RETURNING id, number"""
AUTHORIZE_ALL = ("INSERT INTO source_authorizations (account_id, source_id, granted_at) "
                 "SELECT a, s, now() FROM unnest(%s::bigint[]) AS a CROSS JOIN unnest(%s::int[]) AS s")


def vacuum_analyze(database_url: str, tables) -> None:
    """VACUUM ANALYZE these tables: what autovacuum would have done by now (a bench server may run
    without it), and fresh statistics, on which the app's cached plans are made again."""
    with psycopg.connect(database_url, autocommit=True) as connection:
        connection.execute(f"VACUUM ANALYZE {', '.join(tables)}")


def trip_version_and_app_source(connection) -> tuple[int, int]:
    """The ids of the TRIP v1 methodology version and the APP data source the benches' trips carry."""
    version_id = connection.execute(
        "SELECT v.id FROM methodology_versions v JOIN methodologies m ON m.id = v.methodology_id "
        "WHERE m.code = 'TRIP' AND v.version = 1").fetchone()[0]
    source_id = connection.execute("SELECT id FROM data_sources WHERE code = 'APP'").fetchone()[0]
    return version_id, source_id


def fresh_account_numbers(size: int, taken: set[str]) -> list[str]:
    """`size` new account numbers, none in `taken` (which they join)."""
    from accounting.ledger.account_numbers import new_account_number

    fresh = []
    while len(fresh) < size:
        number = new_account_number()
        if number not in taken:
            taken.add(number)
            fresh.append(number)
    return fresh


def insert_resident_accounts(connection, numbers: list[str]) -> list[tuple[int, str]]:
    """A resident holder in 滨城区 with a zero-balance account for each number: [(id, number)]."""
    return connection.execute(RESIDENT_ACCOUNTS, {"size": len(numbers), "numbers": numbers}).fetchall()


def insert_authorized_residents(database_url: str, count: int, source_ids, taken: set[str],
                                chunk: int = 5000) -> list[int]:
    """`count` resident accounts (numbers not in `taken`), each authorizing every source of
    `source_ids`, written set-based, `chunk` per commit; their account ids."""
    account_ids = []
    with psycopg.connect(database_url) as connection:
        for offset in range(0, count, chunk):
            fresh = fresh_account_numbers(min(chunk, count - offset), taken)
            ids = [account_id for account_id, _ in insert_resident_accounts(connection, fresh)]
            connection.execute(AUTHORIZE_ALL, (ids, list(source_ids)))
            connection.commit()
            account_ids.extend(ids)
    return account_ids


def insert_reductions(database_url: str, account_ids: list[int], total: int, day, prefix: str = "ledger") -> float:
    """`total` quantified bus trips of `day` (Asia/Shanghai) in no batch, round-robin over the accounts.

    Each account's trips of the day sit in their own slots (no overlaps), 20..499 g each,
    quantified under the TRIP v1 version, reported by the APP source, external ids
    `<prefix>-<n>`. Returns seconds.
    """
    per_account = -(-total // len(account_ids))
    slot = 86_400 // per_account
    length = max(60, min(1200, slot // 2))
    start = datetime.combine(day, datetime.min.time(), SHANGHAI).astimezone(timezone.utc)
    with psycopg.connect(database_url) as connection:
        version_id, source_id = trip_version_and_app_source(connection)
        started = time.perf_counter()
        connection.execute(
            """INSERT INTO green_events (source_id, external_id, account_id, kind, mode, started_at, ended_at,
                                         distance_m, status, reduction_g, capped_g, received_at,
                                         methodology_version_id, factor, rationale, quantified_at)
               SELECT %(source)s, %(prefix)s || g, a.ids[1 + g %% a.n], 'trip', 'bus', t.started,
                      t.started + %(length)s * interval '1 second', 4000, 'quantified',
                      20 + (g::bigint * 7919) %% 480, 0, now(), %(version)s, 'bus', 'bench', now()
               FROM (SELECT %(ids)s::bigint[] AS ids, cardinality(%(ids)s::bigint[]) AS n) a,
                    generate_series(0, %(total)s - 1) AS g,
                    LATERAL (SELECT %(start)s::timestamptz
                                    + ((g / a.n) * %(slot)s + g %% 60) * interval '1 second' AS started) t""",
            {"source": source_id, "prefix": f"{prefix}-", "ids": account_ids, "total": total, "start": start,
             "slot": slot, "length": length, "version": version_id})
        connection.commit()
    return time.perf_counter() - started


def percentile(sorted_values: list[float], fraction: float) -> float:
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, max(0, int(round(fraction * len(sorted_values))) - 1))
    return sorted_values[index]
