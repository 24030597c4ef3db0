"""Pooled connections are checked at checkout without a round trip while they are in use
(config/connection_check.py), pinged once idle, and replaced when the server has closed them."""
import pytest
import sqlalchemy as sa

from config import connection_check
from config.extensions import db
from tests.conftest import as_owner


@pytest.fixture
def pings(app, monkeypatch):
    """How many pings the pool sends (the dialect's ping, counted as it is called)."""
    sent = []
    with app.app_context():
        dialect = db.engine.dialect
        ping = dialect.do_ping
        monkeypatch.setattr(dialect, "do_ping", lambda connection: sent.append(1) or ping(connection))
        yield sent


def backend_pid(app) -> int:
    with app.app_context(), db.engine.connect() as connection:
        return connection.scalar(sa.text("SELECT pg_backend_pid()"))


def test_a_connection_in_use_is_not_pinged(app, pings):
    first = backend_pid(app)
    assert [backend_pid(app) for _ in range(5)] == [first] * 5
    assert pings == []


def test_a_connection_idle_past_the_limit_is_pinged(app, pings, monkeypatch):
    first = backend_pid(app)
    monkeypatch.setattr(connection_check, "PING_AFTER_IDLE_SECONDS", 0.0)
    assert backend_pid(app) == first
    assert pings == [1]


def test_a_connection_the_server_closed_is_replaced_without_a_ping(app, pings):
    first = backend_pid(app)
    with as_owner(app) as owner:  # waits (up to 5 s) for the session to end
        assert owner.scalar(sa.text("SELECT pg_terminate_backend(:pid, 5000)"), {"pid": first})
    replaced = backend_pid(app)
    assert replaced != first
    assert pings == []
