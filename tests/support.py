"""Helpers the tests use to act as residents and as data sources, through HTTP."""
import itertools
import json
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from werkzeug.serving import make_server
from werkzeug.wsgi import ClosingIterator

from accounting.record import credentials as source_credentials

RESIDENT_PASSWORD = "correct horse battery"
_phones = itertools.count(1)


def next_phone() -> str:
    return f"1380{next(_phones):07d}"


def iso(moment: datetime) -> str:
    return moment.isoformat()


def ago(**delta) -> datetime:
    return datetime.now(timezone.utc) - timedelta(**delta)


class _Answering:
    """The app behind a counter of the requests it is answering. Once closed it answers 503 at once,
    without touching the database, and `close_and_wait` returns when the last request begun is done: a
    page left open after a test may still be asking (keep-alive), and a request running while the
    next test's cleanup truncates the tables can deadlock with it."""

    def __init__(self, app):
        self.app, self.count, self.closed, self.idle = app, 0, False, threading.Condition()

    def __call__(self, environ, start_response):
        with self.idle:
            if self.closed:
                start_response("503 Service Unavailable", [("Content-Type", "text/plain"), ("Connection", "close")])
                return [b"the test is over"]
            self.count += 1
        try:
            return ClosingIterator(self.app(environ, start_response), self._done)
        except BaseException:
            self._done()
            raise

    def _done(self):
        with self.idle:
            self.count -= 1
            self.idle.notify_all()

    def close_and_wait(self, timeout: float) -> None:
        with self.idle:
            self.closed = True
            self.idle.wait_for(lambda: self.count == 0, timeout=timeout)


@contextmanager
def served(app):
    """The app on a free loopback port, served over real HTTP by a thread; yields its base URL. On
    exit it stops answering and waits for the requests it was answering (up to 10 s)."""
    answering = _Answering(app)
    server = make_server("127.0.0.1", 0, answering, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=5)
        answering.close_and_wait(timeout=10)


@dataclass
class Resident:
    phone: str
    user_id: int
    account_number: str
    access_token: str
    refresh_token: str
    headers: dict = field(default_factory=dict)

    def auth(self, **extra) -> dict:
        return {"Authorization": f"Bearer {self.access_token}", **extra}


class ApiClient:
    """The Flask test client with the paths and conventions of API.md."""

    def __init__(self, app):
        self.app = app
        self.http = app.test_client()

    def register(self, phone: str | None = None, display_name: str = "测试居民", district: str | None = "滨城区"):
        phone = phone or next_phone()
        body = {"phone": phone, "password": RESIDENT_PASSWORD, "display_name": display_name}
        if district:
            body["district"] = district
        response = self.http.post("/api/v1/auth/register", json=body)
        assert response.status_code == 201, response.get_json()
        data = response.get_json()
        return Resident(phone, data["user"]["id"], data["account"]["number"],
                        data["access_token"], data["refresh_token"])

    def trip(self, resident: Resident, *, mode="bus", distance_m=5000, minutes=20, start=None, **extra):
        start = start or ago(hours=2)
        body = {"mode": mode, "started_at": iso(start), "ended_at": iso(start + timedelta(minutes=minutes))}
        if mode == "walk":
            body["steps"] = extra.pop("steps", 7250)
        else:
            body["distance_m"] = distance_m
        body.update(extra)
        return self.http.post("/api/v1/me/trips", json=body, headers=resident.auth())


class SourceClient:
    """A filed data source that signs its requests the way API.md says."""

    def __init__(self, app, code: str, key: str, secret: str):
        self.app, self.code, self.key, self.secret = app, code, key, secret
        self.http = app.test_client()

    @classmethod
    def filed(cls, app, code: str, kind: str, name: str | None = None):
        from accounting.record.sources import file_source
        from config.extensions import db

        with app.app_context():
            source, key, secret = file_source(code, kind, name or code, app.config["SECRET_KEY"])
            db.session.commit()
        return cls(app, code, key, secret)

    def signed_headers(self, body: bytes, timestamp: int | None = None) -> dict:
        stamp = str(int(time.time()) if timestamp is None else timestamp)
        return {
            "Content-Type": "application/json",
            "X-Source-Key": self.key,
            "X-Timestamp": stamp,
            "X-Signature": source_credentials.sign(self.secret, stamp, body),
        }

    def post_events(self, events: list, timestamp: int | None = None, headers: dict | None = None):
        body = json.dumps({"events": events}).encode()
        return self.http.post("/api/v1/ingest/events", data=body,
                              headers=self.signed_headers(body, timestamp) | (headers or {}))

    def trip_event(self, account_number: str, external_id: str, *, mode="bus", distance_m=5000,
                   start: datetime | None = None, minutes=20) -> dict:
        start = start or ago(hours=3)
        event = {"external_id": external_id, "account_number": account_number, "kind": "trip", "mode": mode,
                 "started_at": iso(start), "ended_at": iso(start + timedelta(minutes=minutes))}
        if mode == "walk":
            event["steps"] = 7250
        else:
            event["distance_m"] = distance_m
        return event

    def recycling_event(self, account_number: str, external_id: str, *, category="cardboard",
                        weight_g=2500, station_code=None, occurred_at=None) -> dict:
        return {"external_id": external_id, "account_number": account_number, "kind": "recycling",
                "category": category, "weight_g": weight_g,
                "occurred_at": iso(occurred_at or ago(hours=1)), "station_code": station_code or self.code}
