"""Helpers for the audit console tests: staff made by the CLI, a cookie session that posts
forms with their CSRF token, issued days, audit records and the registry's verification."""
import csv
import html
import io
import re

from sqlalchemy import select

from accounting.business_day import shanghai_day
from accounting.issuance.models import IssuanceBatch
from accounting.issuance.tasks import run_issuance_day
from accounting.ledger.models import AuditRecord
from accounting.ledger.tasks import seal_audit_log
from accounting.ledger.verify import verify_registry
from config.extensions import db
from tests.support import ago

PASSWORD = "auditor-password-1"
AUDITOR_PHONE, SECOND_AUDITOR_PHONE, CASHIER_PHONE = "13900000001", "13900000002", "13700000001"
CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')
FLASH = re.compile(r'<div class="flash (ok|error)" role="status">(.*?)</div>', re.S)


def staff(app, phone: str, role: str = "auditor") -> int:
    """A staff user made the way operators do (the `users create` CLI); returns the user id."""
    result = app.test_cli_runner().invoke(args=["users", "create", "--role", role, "--phone", phone,
                                                "--password", PASSWORD])
    assert result.exit_code == 0, result.output
    return int(re.search(r"user (\d+)", result.output).group(1))


class Console:
    """A browser-like session on the console: cookies kept, forms posted with their CSRF token."""

    def __init__(self, app):
        self.app = app
        self.http = app.test_client()

    def token(self, path: str = "/console/login") -> str:
        page = self.http.get(path)
        assert page.status_code == 200, (path, page.status_code)
        return CSRF_FIELD.search(page.get_data(as_text=True)).group(1)

    def login(self, phone: str, password: str = PASSWORD, lang: str = "zh-CN", query: str = ""):
        return self.http.post(f"/console/login{query}", data={
            "csrf_token": self.token(), "phone": phone, "password": password, "lang": lang})

    def page(self, path: str, status: int = 200) -> str:
        response = self.http.get(path)
        assert response.status_code == status, (path, response.status_code, response.headers.get("Location"))
        return html.unescape(response.get_data(as_text=True))

    def submit(self, path: str, from_page: str, **form):
        """Post a form shown on `from_page`, as the browser would (its token, its Referer); the
        answer must be a redirect; returns (where it went, the flashed messages there)."""
        form.setdefault("csrf_token", self.token(from_page))
        response = self.http.post(path, data=form, headers={"Referer": f"http://localhost{from_page}"})
        assert response.status_code == 302, (path, response.status_code, response.get_data(as_text=True)[:500])
        location = response.headers["Location"]
        landed = self.http.get(location)
        return location, [(kind, html.unescape(text)) for kind, text in FLASH.findall(landed.get_data(as_text=True))]

    def session(self) -> dict:
        with self.http.session_transaction() as stored:
            return dict(stored)


def signed_in(app, phone: str) -> Console:
    console = Console(app)
    answer = console.login(phone)
    assert answer.status_code == 302 and answer.headers["Location"] == "/console/", answer.get_data(as_text=True)
    return console


def actions_by(app, user_id: int) -> list[str]:
    with app.app_context():
        return list(db.session.scalars(select(AuditRecord.action).where(AuditRecord.actor == f"user:{user_id}")
                                       .order_by(AuditRecord.id)))


def assert_registry_verifies(app) -> None:
    with app.app_context():
        seal_audit_log()
        report = verify_registry()
        db.session.rollback()
    assert all(check["ok"] for check in report), [check for check in report if not check["ok"]]


def load(app, model, **where):
    with app.app_context():
        found = db.session.scalar(select(model).filter_by(**where))
        db.session.expunge_all()
        return found


def metro_day(app, api, *kms, start=None):
    """One resident per distance, each with a metro trip yesterday; the day is then run
    (proposed, and issued too unless batches must wait for an auditor)."""
    start = start or ago(days=1)
    residents = []
    for km in kms:
        resident = api.register()
        assert api.trip(resident, mode="metro", distance_m=km * 1000, start=start).status_code == 202
        residents.append(resident)
    with app.app_context():
        result = run_issuance_day(shanghai_day(start))
    [batch_id] = result["proposed"]
    return residents, load(app, IssuanceBatch, id=batch_id)


def api_login(api, phone: str) -> dict:
    token = api.http.post("/api/v1/auth/login", json={"phone": phone, "password": PASSWORD}).get_json()
    return {"Authorization": f"Bearer {token['access_token']}"}


def apply_merchant(api, cashier: dict, name: str) -> int:
    applied = api.http.post("/api/v1/merchants", headers=cashier, json={
        "name": name, "district": "滨城区", "address": "黄河五路 1 号", "category": "food"})
    assert applied.status_code == 201, applied.get_json()
    return applied.get_json()["id"]


def read_csv(response) -> list[list[str]]:
    assert response.status_code == 200 and response.mimetype == "text/csv"
    text = response.get_data(as_text=True)
    assert text.startswith("\ufeff")  # spreadsheet apps read the Chinese right
    return list(csv.reader(io.StringIO(text[1:])))
