"""A pooled connection is checked before a request uses it, without a round trip where it can be.

SQLAlchemy's `pool_pre_ping` sends a query at every checkout: one round trip more for every
request and every worker transaction, a tenth of what POST /transfers cost the server. Most of
what it catches shows without asking: a server that terminated a session or shut down sent a
last message and closed the socket, so an idle connection whose socket has something to read
is dead (we never LISTEN, so nothing else arrives between transactions). A connection idle
longer than PING_AFTER_IDLE_SECONDS is still pinged, as before, for what a socket cannot show
(a peer gone without a word, a network in between dropping state). A dead connection raises
DisconnectionError, on which the pool (its documented contract) replaces it and checks out
again.
"""
import select
import time

import psycopg
from sqlalchemy import event, exc
from sqlalchemy.engine import Engine

PING_AFTER_IDLE_SECONDS = 10.0


def check_connections_on_checkout(engine: Engine) -> None:
    dialect = engine.dialect

    def connected(dbapi_connection, record) -> None:
        record.info["idle_since"] = time.monotonic()

    def checked_in(dbapi_connection, record) -> None:
        if record is not None:
            record.info["idle_since"] = time.monotonic()

    def checked_out(dbapi_connection, record, proxy) -> None:
        idle_since = record.info.pop("idle_since", None)
        if dbapi_connection.closed or closed_by_server(dbapi_connection):
            raise exc.DisconnectionError("the server closed this connection")
        if idle_since is None or time.monotonic() - idle_since > PING_AFTER_IDLE_SECONDS:
            try:
                dialect.do_ping(dbapi_connection)
            except psycopg.Error as error:
                raise exc.DisconnectionError(f"no answer to a ping: {error}") from error

    event.listen(engine, "connect", connected)
    event.listen(engine, "checkin", checked_in)
    event.listen(engine, "checkout", checked_out)


def closed_by_server(connection: psycopg.Connection) -> bool:
    """Whether the server has spoken (a termination notice) or hung up on an idle connection."""
    try:
        readable, _, _ = select.select([connection.pgconn.socket], [], [], 0)
    except (OSError, ValueError, psycopg.OperationalError):
        return True
    return bool(readable)
