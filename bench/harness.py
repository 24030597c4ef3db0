"""Shared benchmark plumbing: a fresh migrated PostgreSQL database and a gunicorn server."""
import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

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


RESIDENT_ACCOUNTS = """
    WITH h AS (
        INSERT INTO holders (kind, district, created_at)
        SELECT 'resident', '滨城区', now() FROM generate_series(1, %(size)s) RETURNING id),
    n AS (SELECT id, row_number() OVER (ORDER BY id) AS i FROM h)
    INSERT INTO accounts (number, kind, holder_id, balance_g, created_at)
    SELECT number, 'holder', n.id, 0, now()
    FROM n JOIN unnest(%(numbers)s::text[]) WITH ORDINALITY AS u(number, i) USING (i)
    RETURNING id"""
AUTHORIZE_ALL = ("INSERT INTO source_authorizations (account_id, source_id, granted_at) "
                 "SELECT a, s, now() FROM unnest(%s::bigint[]) AS a CROSS JOIN unnest(%s::int[]) AS s")


def insert_authorized_residents(database_url: str, count: int, source_ids, taken: set[str],
                                chunk: int = 5000) -> list[int]:
    """`count` resident holders with accounts (numbers not in `taken`, which they join), each
    authorizing every source of `source_ids`, written set-based in chunks; their account ids."""
    from accounting.ledger.account_numbers import new_account_number

    account_ids = []
    with psycopg.connect(database_url) as connection:
        for offset in range(0, count, chunk):
            fresh = []
            while len(fresh) < min(chunk, count - offset):
                number = new_account_number()
                if number not in taken:
                    taken.add(number)
                    fresh.append(number)
            ids = [row[0] for row in connection.execute(RESIDENT_ACCOUNTS, {"size": len(fresh), "numbers": fresh})]
            connection.execute(AUTHORIZE_ALL, (ids, list(source_ids)))
            connection.commit()
            account_ids.extend(ids)
    return account_ids


def percentile(sorted_values: list[float], fraction: float) -> float:
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, max(0, int(round(fraction * len(sorted_values))) - 1))
    return sorted_values[index]
