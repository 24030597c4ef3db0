"""The fault suite's own services, so killing them never touches the machine's shared ones: an
embedded PostgreSQL (the wheel the platform starts when no server is configured) and a
redis-server on a port of its own; real Celery workers against them.

Nothing here races a clock: every wait is for a condition (a log line, a row, a process gone),
bounded so that a hang fails the test instead of the run.
"""
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
import redis
from sqlalchemy.engine import make_url

from config.settings import as_role
from tests.conftest import APP_ROLE, build_app

ROOT = Path(__file__).resolve().parents[2]
BOUND_SECONDS = 60


def wait_for(condition, what: str, seconds: float = BOUND_SECONDS, every: float = 0.1):
    """Poll `condition` until it is true (returns its value), failing after `seconds`."""
    deadline = time.monotonic() + seconds
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"waited {seconds:.0f} s for {what}")
        time.sleep(every)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class RedisServer:
    """A redis-server of this test's own, on its own port; kill() is SIGKILL, as a crash is."""

    def __init__(self, folder: Path):
        self.port, self.folder, self.process = free_port(), folder, None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.folder)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = redis.Redis.from_url(self.url, socket_connect_timeout=0.5)
        wait_for(lambda: self._answers(client), "redis-server to answer")

    @staticmethod
    def _answers(client) -> bool:
        try:
            return client.ping()
        except redis.RedisError:
            return False

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=BOUND_SECONDS)


class Worker:
    """`celery -A wsgi.celery worker` as the Procfile runs it (prefork), against these services."""

    def __init__(self, environ: dict, log: Path):
        self.log_path = log
        self.log = log.open("ab")
        self.process = subprocess.Popen(
            [str(ROOT / ".venv" / "bin" / "celery"), "-A", "wsgi.celery", "worker", "--concurrency=2", "-Q", "celery",
             "--loglevel=INFO", "--without-gossip", "--without-mingle", "--without-heartbeat"],
            cwd=ROOT, env=environ, stdout=self.log, stderr=subprocess.STDOUT)
        self.wait_for_log(r"celery@\S+ ready", "the worker to start")

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_for_log(self, pattern: str, what: str, after: int = 0) -> None:
        wait_for(lambda: re.search(pattern, self.output()[after:]) or self.process.poll() is not None, what)
        assert self.process.poll() is None, f"the worker exited while waiting for {what}:\n{self.output()[-4000:]}"

    def kill(self) -> None:
        """SIGKILL the whole worker (main process and pool children), as the OOM killer would."""
        children = subprocess.run(["pgrep", "-P", str(self.process.pid)], capture_output=True, text=True).stdout.split()
        for pid in [self.process.pid, *map(int, children)]:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.process.wait(timeout=BOUND_SECONDS)
        self.log.close()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()
        self.log.close()


@dataclass(frozen=True)
class PrivatePostgres:
    """The suite's own embedded PostgreSQL, started and stopped as platform/test.sh does it: by
    `python -m config.embedded_postgres` in a process of its own, so this one never holds it."""

    url: str  # the admin connection
    data: Path

    @staticmethod
    def command(action: str, data: Path) -> str:
        return subprocess.run([str(ROOT / ".venv" / "bin" / "python"), "-m", "config.embedded_postgres", action,
                               str(data)], cwd=ROOT, check=True, capture_output=True, text=True).stdout.strip()

    def stop(self) -> None:
        self.command("stop", self.data)

    def start(self) -> None:
        self.command("start", self.data)


@pytest.fixture(scope="session")
def private_postgres():
    """An embedded PostgreSQL of the fault suite's own; stopped and removed at the end."""
    data = Path(tempfile.mkdtemp(prefix="bz-faults-pg-")) / "data"
    server = PrivatePostgres(PrivatePostgres.command("start", data), data)
    yield server
    server.stop()
    shutil.rmtree(data.parent, ignore_errors=True)


@pytest.fixture
def fault_database(private_postgres, request):
    """A fresh database on the private server, migrated; its owner's URL."""
    name = "bz_fault_" + re.sub(r"\W", "_", request.node.name)[:40].lower()
    with psycopg.connect(private_postgres.url, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
    yield make_url(private_postgres.url).set(database=name).render_as_string(hide_password=False)
    with psycopg.connect(private_postgres.url, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def private_redis(tmp_path):
    server = RedisServer(tmp_path)
    server.start()
    yield server
    if server.process.poll() is None:
        server.kill()


@pytest.fixture
def fault_app(fault_database, private_redis, tmp_path):
    """The app as the Procfile's processes run it: tasks go through Redis to a worker, not in-process."""
    app = build_app(fault_database, private_redis.url, environ={
        "CELERY_TASKS_IN_PROCESS": "false", "AUDIT_CHECKPOINT_DIR": str(tmp_path / "heads")})
    yield app
    from config.extensions import db
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def start_worker(fault_app, fault_database, private_redis, tmp_path):
    """Start a real Celery worker for this test's app (as many as the test asks); stopped afterwards."""
    started = []

    def start() -> Worker:
        environ = os.environ | {
            "DATABASE_URL": as_role(fault_database, APP_ROLE), "MIGRATION_DATABASE_URL": fault_database,
            "REDIS_URL": private_redis.url, "APP_ENV": "test", "CELERY_TASKS_IN_PROCESS": "false",
            "AUDIT_CHECKPOINT_DIR": fault_app.config["AUDIT_CHECKPOINT_DIR"], "INSTANCE_PATH": str(tmp_path)}
        worker = Worker(environ, tmp_path / f"worker-{len(started)}.log")
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()
