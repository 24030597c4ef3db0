"""Unbound extension instances, bound to an app by the app factory."""
import redis
from flask import current_app
from flask_babel import Babel
from flask_jwt_extended import JWTManager
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import MetaData

# Stable constraint names, so migrations can address them.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

db = SQLAlchemy(metadata=MetaData(naming_convention=NAMING_CONVENTION))
migrate = Migrate(compare_type=True)
jwt = JWTManager()


def driver_connection():
    """The session's own psycopg connection, in the session's transaction.

    For the few hot paths that send whole columns as binary arrays or call the ledger's
    server-side function without SQLAlchemy's per-statement work; what the ORM holds pending
    is flushed first, as session.execute would autoflush.
    """
    db.session.flush()
    return db.session.connection().connection.driver_connection


limiter = Limiter(key_func=get_remote_address, default_limits=[])
babel = Babel()


REDIS_TIMEOUT_SECONDS = 1.0


class RedisConnection:
    """The app's Redis client, or None in embedded mode (REDIS_URL unset)."""

    def init_app(self, app):
        url = app.config.get("REDIS_URL")
        # Short timeouts: with Redis down, a request waits a moment, not a minute (nothing written
        # depends on Redis; enqueueing is skipped and the sweeps catch up).
        app.extensions["redis"] = redis.Redis.from_url(
            url, socket_connect_timeout=REDIS_TIMEOUT_SECONDS, socket_timeout=REDIS_TIMEOUT_SECONDS) if url else None

    @property
    def client(self) -> "redis.Redis | None":
        return current_app.extensions.get("redis")


redis_store = RedisConnection()
