"""Test fixtures: a PostgreSQL database per xdist worker built by the migrations, real Redis.

Services: TEST_DATABASE_URL (default postgresql://postgres@127.0.0.1:5432/postgres, used
as the admin connection that creates `bz_test_<worker>`; platform/test.sh points it at an
embedded PostgreSQL's unix socket when nothing answers there), TEST_REDIS_URL (default
redis://127.0.0.1:6379). Without them the tests that need them skip, saying how to start
them; under CI=true a missing service fails the run instead.
"""
import os
import shutil
import tempfile
from contextlib import contextmanager

import psycopg
import pytest
import redis
import sqlalchemy as sa
import sqlalchemy.pool
from sqlalchemy.engine import make_url

from accounting.ledger.accounts import ensure_system_accounts, forget_cached_ids
from accounting.quantification.methodologies import forget_kept_versions, seed_default_methodologies
from api.after_commit import forget_coalesced_windows
from config.extensions import limiter
from config.settings import as_role
from tests.browser_support import launch, start_playwright
from tests.support import RESIDENT_PASSWORD, ApiClient, SourceClient, served

ADMIN_URL = os.environ.get("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

START_POSTGRES = ("pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start "
                  "(outside CI, platform/test.sh starts an embedded PostgreSQL instead)")
START_REDIS = 'redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no'

APP_ROLE = "binzhou_app"

TEST_SETTINGS = {
    "APP_ENV": "test",
    "LOGIN_PHONE_RATE_LIMIT": "100000 per minute",
    "LOGIN_ADDRESS_RATE_LIMIT": "100000 per minute",
    "REGISTER_RATE_LIMIT": "100000 per minute",
    # Argon2 at its lightest: the suite registers hundreds of users.
    "ARGON2_TIME_COST": "1",
    "ARGON2_MEMORY_KIB": "1024",
    # Quantification runs in-process right after each commit; a test of
    # tests/test_quantification_pipeline.py runs a real Celery worker for the queued path.
    "CELERY_TASKS_IN_PROCESS": "true",
}


def url_for_database(name: str) -> str:
    """ADMIN_URL naming another database, whether it reaches the server by host and port or by
    a unix socket (`postgresql://postgres@/postgres?host=/socket/dir`)."""
    return make_url(ADMIN_URL).set(database=name).render_as_string(hide_password=False)


def _missing(service: str, how: str, error: Exception):
    message = f"{service} is not reachable ({error}); start it with: {how}"
    if IN_CI:
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="session")
def postgres_database(worker_id):
    """A fresh database for this test process, migrated to head by Alembic.

    Named by process id, so two runs at once (two terminals, xdist workers) never share one.
    """
    name = f"bz_test_{worker_id}_{os.getpid()}"
    try:
        admin = psycopg.connect(ADMIN_URL, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as error:
        _missing("PostgreSQL", START_POSTGRES, error)
    with admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
    yield url_for_database(name)
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def redis_url(worker_id):
    """A Redis database (1–15) picked by process id, emptied at the start."""
    url = f"{REDIS_URL}/{1 + os.getpid() % 15}"
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=3)
        client.flushdb()
    except redis.RedisError as error:
        _missing("Redis", START_REDIS, error)
    return url


@pytest.fixture
def restore_shared_extensions():
    """The limiter and Celery's current app are process-wide: building another app re-points them
    (to in-memory storage, in embedded mode). Put them back for the session app's later tests."""
    from celery import _state

    saved = limiter._storage, limiter._limiter, _state.default_app, getattr(_state._tls, "current_app", None)
    yield
    limiter._storage, limiter._limiter, _state.default_app, _state._tls.current_app = saved


@pytest.fixture
def fresh_postgres():
    """An empty PostgreSQL database of this test's own, dropped afterwards."""
    name = f"bz_migrations_{os.getpid()}"
    try:
        admin = psycopg.connect(ADMIN_URL, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as error:
        pytest.skip(f"PostgreSQL is not reachable: {error}")
    with admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
        admin.execute(f'ALTER DATABASE "{name}" SET lock_timeout = \'20s\'')  # a lock wait fails, never hangs
    yield url_for_database(name)
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def build_app(database_url: str, redis_url: str | None, environ: dict | None = None, **overrides):
    """The app as it runs for real: migrated by the tables' owner (`database_url`), connected as
    the app's own role, which may only do what the app does."""
    from flask_migrate import upgrade

    from api import create_app

    environ = TEST_SETTINGS | {"DATABASE_URL": as_role(database_url, APP_ROLE), "MIGRATION_DATABASE_URL": database_url,
                               "AUDIT_CHECKPOINT_DIR": tempfile.mkdtemp(prefix="bz-audit-heads-")} | (environ or {})
    if redis_url:
        environ["REDIS_URL"] = redis_url
    app = create_app(environ, **overrides)
    with app.app_context():
        upgrade()
    return app


@contextmanager
def as_owner(app):
    """A connection as the tables' owner (the migration role), for what the app itself may not do:
    emptying tables between tests, or playing an insider who goes around the app."""
    engine = sa.create_engine(app.config["MIGRATION_DATABASE_URI"], poolclass=sa.pool.NullPool)
    try:
        with engine.begin() as connection:
            yield connection
    finally:
        engine.dispose()


@pytest.fixture(scope="session")
def app(postgres_database, redis_url):
    return build_app(postgres_database, redis_url)


@pytest.fixture(autouse=True)
def _clean_state(request):
    """Every test starts from the migrated, empty database and an empty Redis db."""
    yield
    if "app" not in request.fixturenames:
        return
    app = request.getfixturevalue("app")
    from config.extensions import db

    with app.app_context():
        db.session.remove()
        tables = [t.name for t in db.metadata.sorted_tables if t.name != "data_sources"]
        with as_owner(app) as connection:
            connection.execute(sa.text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
            # Keep the APP source the migration files; everything else a test filed goes.
            connection.execute(sa.text("DELETE FROM data_sources WHERE code <> 'APP'"))
            # ...and the default methodologies and system accounts the migrations ship come back.
            seed_default_methodologies(connection)
            ensure_system_accounts(connection)
        forget_cached_ids()
        forget_kept_versions()
        # The chain starts again with the emptied tables: so do the heads written down outside.
        shutil.rmtree(app.config["AUDIT_CHECKPOINT_DIR"], ignore_errors=True)
        client = app.extensions.get("redis")
        if client is not None:
            client.flushdb()
            forget_coalesced_windows(app)
        app.extensions.pop("public_page_cache", None)  # the public page's figures of the emptied tables


@pytest.fixture
def quantification_deferred(app):
    """Queue quantification instead of running it in-process: events stay `received`.

    For tests of recording itself; the queued task lands in this run's Redis db, no worker
    takes it, and the db is emptied after the test.
    """
    conf = app.extensions["celery"].conf
    conf.task_always_eager = False
    yield
    conf.task_always_eager = True


@pytest.fixture
def api(app):
    return ApiClient(app)


@pytest.fixture(scope="module")
def live_url(app):
    """The app (bound to this run's PostgreSQL database) on a free loopback port, over real HTTP."""
    with served(app) as url:
        yield url


@pytest.fixture(scope="module")
def playwright():
    """Playwright's driver for Debian's Chromium (tests/browser_support.py); a skip without them."""
    yield from start_playwright()


@pytest.fixture(scope="module")
def browser(playwright):
    browser = launch(playwright)
    yield browser
    browser.close()


@pytest.fixture
def resident(api):
    """A registered, signed-in resident."""
    return api.register()


@pytest.fixture
def file_source(app):
    """File a data source through the service and return a client that signs as it."""

    def _file(code="BZBUS", kind="transit", **kwargs):
        return SourceClient.filed(app, code, kind, **kwargs)

    return _file


__all__ = ["RESIDENT_PASSWORD"]
