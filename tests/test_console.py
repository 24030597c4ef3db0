"""The bureau's audit console through the Flask test client (no browser): sign-in by session
cookie, CSRF on every form, zh-CN/en, every action with a reason that lands in the audit log
while the registry still verifies, trace, and CSV exports."""
import copy
import html
import re
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from accounting.business_day import shanghai_day
from accounting.issuance.models import IssuanceBatch
from accounting.ledger.models import Account, AuditRecord
from accounting.quantification import methodologies
from accounting.quantification.models import Methodology, MethodologyVersion
from accounting.record.models import GreenEvent
from api.identity.models import User
from config.extensions import db
from merchants.models import Merchant
from tests.console_support import (
    AUDITOR_PHONE,
    CASHIER_PHONE,
    PASSWORD,
    SECOND_AUDITOR_PHONE,
    Console,
    actions_by,
    api_login,
    apply_merchant,
    assert_registry_verifies,
    load,
    metro_day,
    read_csv,
    signed_in,
    staff,
)
from tests.support import RESIDENT_PASSWORD, ago, iso

NO_REASON = [("error", "请填写理由（200 字以内）。")]  # what an action without a reason flashes

# --- fixtures ----------------------------------------------------------------------------------

@pytest.fixture
def auditor(app) -> int:
    return staff(app, AUDITOR_PHONE)


@pytest.fixture
def console(app, auditor) -> Console:
    return signed_in(app, AUDITOR_PHONE)


@pytest.fixture
def batches_wait(app, monkeypatch):
    """Nothing is auto-approved: every proposed batch waits for an auditor (restored after)."""
    monkeypatch.setitem(app.config, "ISSUANCE_AUTO_APPROVE_MAX_G", 0)


# --- signing in --------------------------------------------------------------------------------

def test_auditor_signs_in_with_a_session_cookie(app, auditor):
    console = Console(app)
    answer = console.login(AUDITOR_PHONE)
    assert answer.status_code == 302 and answer.headers["Location"] == "/console/"
    cookie = answer.headers["Set-Cookie"]
    assert cookie.startswith("session=") and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert console.session()["console_user"] == auditor
    dashboard = console.page("/console/")
    assert "概览" in dashboard and "待处理" in dashboard and "auditor" in dashboard

    # Back where the auditor was going, but never off the console.
    again = Console(app)
    assert again.login(AUDITOR_PHONE, query="?next=/console/audit").headers["Location"] == "/console/audit"
    elsewhere = Console(app)
    assert elsewhere.login(AUDITOR_PHONE, query="?next=https://evil.example/").headers["Location"] == "/console/"

    # Signing out ends the session.
    signed_out = console.http.post("/console/logout", data={"csrf_token": console.token("/console/")})
    assert signed_out.status_code == 302 and signed_out.headers["Location"] == "/console/login"
    assert console.http.get("/console/").headers["Location"].startswith("/console/login")


def test_an_admin_may_use_the_console_too(app):
    staff(app, "13900000009", role="admin")
    assert "概览" in signed_in(app, "13900000009").page("/console/")


def test_residents_merchant_staff_and_wrong_passwords_are_refused(app, api, auditor):
    resident = api.register()
    staff(app, CASHIER_PHONE, role="merchant_staff")
    for phone, password in ((resident.phone, RESIDENT_PASSWORD), (CASHIER_PHONE, PASSWORD),
                            (AUDITOR_PHONE, "wrong-password"), ("13999999999", PASSWORD)):
        console = Console(app)
        answer = console.login(phone, password)
        assert answer.status_code == 401, (phone, answer.status_code)
        assert "无权使用审核后台" in answer.get_data(as_text=True)
        assert "console_user" not in console.session()
        assert console.http.get("/console/").status_code == 302
    # A refused sign-in leaves no trace on the user either.
    with app.app_context():
        assert db.session.scalar(select(User.last_login_at).where(User.phone == CASHIER_PHONE)) is None


def test_a_user_who_loses_the_role_is_signed_out(app, console, auditor):
    with app.app_context():
        db.session.get(User, auditor).role = "merchant_staff"
        db.session.commit()
    answer = console.http.get("/console/queues")
    assert answer.status_code == 302 and answer.headers["Location"].startswith("/console/login")
    assert "console_user" not in console.session()


PAGES = ["/console/", "/console/queues", "/console/trace", "/console/trace?q=x", "/console/health",
         "/console/audit", "/console/exports", "/console/exports/batches.csv", "/console/exports/retirements.csv",
         "/console/exports/merchants/1/statement.csv", "/console/units/BZ-TRIP1-20261122-0001-000000001",
         "/console/accounts/BZ0000000000", "/console/batches/1", "/console/merchants/1",
         "/console/methodology-versions/1", "/console/coupons/1", "/console/lang/en"]


def test_every_page_needs_a_signed_in_auditor(app, api):
    anonymous = Console(app)
    for path in PAGES:
        answer = anonymous.http.get(path)
        assert answer.status_code == 302, path
        assert answer.headers["Location"].startswith("/console/login?next=/console"), path
    # A resident's bearer token is no console session.
    resident = api.register()
    answer = anonymous.http.get("/console/", headers=resident.auth())
    assert answer.status_code == 302 and answer.headers["Location"].startswith("/console/login")
    # Forms too: with a valid token but no session, nothing is done.
    token = anonymous.token()
    for path in ("/console/batches/1/approve", "/console/accounts/BZ0000000000/freeze", "/console/health/verify",
                 "/console/revocations", "/console/merchants/1/approve", "/console/methodology-versions/1/approve"):
        answer = anonymous.http.post(path, data={"csrf_token": token, "reason": "r"})
        assert answer.status_code == 302 and answer.headers["Location"].startswith("/console/login"), path


# --- CSRF and language -------------------------------------------------------------------------

def test_a_form_without_its_csrf_token_is_refused(app, api, console, auditor, batches_wait):
    _, batch = metro_day(app, api, 10)
    page = f"/console/batches/{batch.id}"
    for form in ({"reason": "looks fine"}, {"reason": "looks fine", "csrf_token": "forged"}):
        answer = console.http.post(f"{page}/approve", data=form, headers={"Referer": f"http://localhost{page}"})
        assert answer.status_code == 302 and answer.headers["Location"] == f"http://localhost{page}"
        landed = console.page(page)
        assert "表单已过期，请重试。" in landed
        assert load(app, IssuanceBatch, id=batch.id).status == "proposed"
    assert actions_by(app, auditor) == []
    # Signing in needs the token as well.
    stranger = Console(app)
    answer = stranger.http.post("/console/login", data={"phone": AUDITOR_PHONE, "password": PASSWORD})
    assert answer.status_code == 302 and "console_user" not in stranger.session()


def test_language_switch_changes_the_text(app, console):
    assert "待处理" in console.page("/console/")
    switched = console.http.get("/console/lang/en", headers={"Referer": "http://localhost/console/"})
    assert switched.status_code == 302 and switched.headers["Location"] == "http://localhost/console/"
    english = console.page("/console/")
    assert '<html lang="en">' in english and "Waiting for you" in english and "Dashboard" in english
    assert "待处理" not in english
    assert "Queues" in console.page("/console/queues") and "Nothing waiting." in console.page("/console/queues")
    console.http.get("/console/lang/zh-CN")
    assert "待处理" in console.page("/console/")
    # The language chosen at sign-in sticks too.
    english_login = Console(app)
    english_login.login(AUDITOR_PHONE, lang="en")
    assert "Registry health" in english_login.page("/console/health")


# --- actions: reason required, state changed, audited, registry verifies -----------------------

def test_approve_a_proposed_batch(app, api, console, auditor, batches_wait):
    (alice,), batch = metro_day(app, api, 10)
    assert batch.status == "proposed" and batch.quantity_g == 468
    queue = console.page("/console/queues")
    assert batch.serial_prefix in queue and f"/console/batches/{batch.id}" in queue
    page = f"/console/batches/{batch.id}"
    detail = console.page(page)
    assert "批准并签发" in detail and alice.account_number in detail and "468 g" in detail

    for empty in ("", "   ", "x" * 201):
        _, flashes = console.submit(f"{page}/approve", page, reason=empty)
        assert flashes == NO_REASON
        assert load(app, IssuanceBatch, id=batch.id).status == "proposed"
    assert actions_by(app, auditor) == []

    location, flashes = console.submit(f"{page}/approve", page, reason="sample checked, factors as filed")
    assert location == page and flashes == [("ok", "已批准，正在签发。")]
    issued = load(app, IssuanceBatch, id=batch.id)
    assert (issued.status, issued.approved_by, issued.decision_note) == (
        "issued", auditor, "sample checked, factors as filed")
    assert "issued" in console.page(page) and "撤销序号范围" in console.page(page)
    assert api.http.get("/api/v1/me", headers=alice.auth()).get_json()["account"]["balance_g"] == 468
    assert actions_by(app, auditor) == ["batch_approved"]
    with app.app_context():
        record = db.session.scalar(select(AuditRecord).where(AuditRecord.action == "batch_approved"))
        assert record.subject == f"batch:{batch.serial_prefix}"
        assert record.payload == {"note": "sample checked, factors as filed"}
        assert db.session.scalar(select(AuditRecord.id).where(AuditRecord.action == "batch_issued"))
    # Approving twice is refused with the reason, in the auditor's language.
    _, flashes = console.submit(f"{page}/approve", page, reason="again")
    assert flashes[0][0] == "error" and actions_by(app, auditor) == ["batch_approved"]
    assert_registry_verifies(app)


def test_reject_a_proposed_batch(app, api, console, auditor, batches_wait):
    (alice,), batch = metro_day(app, api, 5)
    page = f"/console/batches/{batch.id}"
    _, flashes = console.submit(f"{page}/reject", page, reason="")
    assert flashes == NO_REASON and actions_by(app, auditor) == []
    _, flashes = console.submit(f"{page}/reject", page, reason="implausible speeds")
    assert flashes == [("ok", "已驳回。")]
    rejected = load(app, IssuanceBatch, id=batch.id)
    assert (rejected.status, rejected.decision_note) == ("rejected", "implausible speeds")
    assert api.http.get("/api/v1/me", headers=alice.auth()).get_json()["account"]["balance_g"] == 0
    assert actions_by(app, auditor) == ["batch_rejected"]
    assert "批准并签发" not in console.page(page)
    assert_registry_verifies(app)


def _filed_trip_v2(app, filer_id: int) -> MethodologyVersion:
    """TRIP v2 with a new bus factor, filed by `filer_id`, in force from next year."""
    with app.app_context():
        trip = db.session.scalar(select(Methodology).where(Methodology.code == "TRIP"))
        v1 = methodologies.version_of(trip.id, 1)
        parameters = copy.deepcopy(v1.parameters)
        parameters["factors"]["bus"] = "24.5"
        start = datetime.fromisoformat(f"{datetime.now().year + 1}-01-01T00:00:00+08:00")
        draft = methodologies.draft_version(trip.id, parameters, v1.sources, start, None, filer_id)
        methodologies.file_version(trip.id, draft.version, filer_id)
        db.session.commit()
        version_id = draft.id
    return load(app, MethodologyVersion, id=version_id)


def test_approve_a_filed_methodology_version(app, console, auditor):
    filer = staff(app, SECOND_AUDITOR_PHONE)
    version = _filed_trip_v2(app, filer)
    assert "v2" in console.page("/console/queues")
    page = f"/console/methodology-versions/{version.id}"
    diff = console.page(page)
    assert re.search(r'<tr class="changed"><td><code>factors\.bus</code></td><td>26\.9</td><td>24\.5</td>', diff)
    assert '<tr class=""><td><code>factors.metro</code></td>' in diff

    _, flashes = console.submit(f"{page}/approve", page, reason=" ")
    assert flashes == NO_REASON
    assert load(app, MethodologyVersion, id=version.id).status == "filed"
    _, flashes = console.submit(f"{page}/approve", page, reason="bus factor per 2027 study")
    assert flashes == [("ok", "已批准。")]
    approved = load(app, MethodologyVersion, id=version.id)
    assert (approved.status, approved.approved_by, approved.approval_note) == (
        "approved", auditor, "bus factor per 2027 study")
    assert actions_by(app, auditor) == ["methodology_approved"]
    assert actions_by(app, filer) == ["methodology_filed"]
    assert_registry_verifies(app)


def test_reject_a_filed_methodology_version_and_four_eyes(app, console, auditor):
    own = _filed_trip_v2(app, auditor)
    page = f"/console/methodology-versions/{own.id}"
    _, flashes = console.submit(f"{page}/approve", page, reason="mine")
    assert flashes[0][0] == "error" and load(app, MethodologyVersion, id=own.id).status == "filed"
    assert actions_by(app, auditor) == ["methodology_filed"]

    _, flashes = console.submit(f"{page}/reject", page, reason="")
    assert flashes == NO_REASON
    _, flashes = console.submit(f"{page}/reject", page, reason="cite the source of 24.5")
    assert flashes == [("ok", "已退回修改。")]
    sent_back = load(app, MethodologyVersion, id=own.id)
    assert (sent_back.status, sent_back.approval_note) == ("draft", "cite the source of 24.5")
    assert actions_by(app, auditor) == ["methodology_filed", "methodology_rejected"]
    assert "对比并审批" not in console.page("/console/queues")
    assert_registry_verifies(app)


def test_approve_reject_and_suspend_merchants(app, api, console, auditor):
    staff(app, CASHIER_PHONE, role="merchant_staff")
    staff(app, "13700000002", role="merchant_staff")
    noodles = apply_merchant(api, api_login(api, CASHIER_PHONE), "黄河路面馆")
    fake = apply_merchant(api, api_login(api, "13700000002"), "无照小店")
    queue = console.page("/console/queues")
    assert "黄河路面馆" in queue and "无照小店" in queue

    first = f"/console/merchants/{noodles}"
    _, flashes = console.submit(f"{first}/approve", first, reason="")
    assert flashes == NO_REASON
    assert load(app, Merchant, id=noodles).status == "pending"
    _, flashes = console.submit(f"{first}/approve", first, reason="licence checked on site")
    assert flashes == [("ok", "已批准。")]
    approved = load(app, Merchant, id=noodles)
    assert approved.status == "approved" and approved.account_id and approved.decided_by == auditor
    number = load(app, Account, id=approved.account_id).number
    assert number in console.page(first)

    second = f"/console/merchants/{fake}"
    _, flashes = console.submit(f"{second}/reject", second, reason="no licence")
    assert flashes == [("ok", "已处理。")]
    assert (load(app, Merchant, id=fake).status, load(app, Merchant, id=fake).decision_note) == (
        "rejected", "no licence")

    _, flashes = console.submit(f"{first}/suspend", first, reason="")
    assert flashes == NO_REASON and load(app, Merchant, id=noodles).status == "approved"
    _, flashes = console.submit(f"{first}/suspend", first, reason="complaints about fake coupons")
    assert flashes == [("ok", "已处理。")] and load(app, Merchant, id=noodles).status == "suspended"
    # A rejected application cannot be suspended: refused with the reason, nothing recorded.
    _, flashes = console.submit(f"{second}/suspend", second, reason="try")
    assert flashes[0][0] == "error"
    assert actions_by(app, auditor) == ["merchant_approved", "merchant_rejected", "merchant_suspended"]
    assert_registry_verifies(app)


def test_freeze_and_unfreeze_an_account(app, api, console, auditor):
    (alice, bob), _ = metro_day(app, api, 10, 5)
    page = f"/console/accounts/{alice.account_number}"
    assert "468 g" in console.page(page) and "冻结" in console.page(page)
    _, flashes = console.submit(f"{page}/freeze", page, reason="")
    assert flashes == NO_REASON
    assert load(app, Account, number=alice.account_number).frozen_at is None

    _, flashes = console.submit(f"{page}/freeze", page, reason="suspected fraud")
    assert flashes == [("ok", "账户已冻结。")]
    assert load(app, Account, number=alice.account_number).frozen_at is not None
    assert "已冻结" in console.page(page)
    blocked = api.http.post("/api/v1/transfers", json={"to_account_number": bob.account_number, "amount_g": 1},
                            headers=alice.auth())
    assert blocked.status_code == 409 and blocked.get_json()["code"] == "account_frozen"

    _, flashes = console.submit(f"{page}/unfreeze", page, reason="")
    assert flashes == NO_REASON
    assert load(app, Account, number=alice.account_number).frozen_at is not None
    _, flashes = console.submit(f"{page}/unfreeze", page, reason="cleared after review")
    assert flashes == [("ok", "账户已解冻。")] and load(app, Account, number=alice.account_number).frozen_at is None
    sent = api.http.post("/api/v1/transfers", json={"to_account_number": bob.account_number, "amount_g": 1},
                         headers=alice.auth())
    assert sent.status_code == 201
    assert actions_by(app, auditor) == ["freeze", "unfreeze"]
    with app.app_context():
        reasons = [r.payload["reason"] for r in db.session.scalars(
            select(AuditRecord).where(AuditRecord.actor == f"user:{auditor}").order_by(AuditRecord.id))]
    assert reasons == ["suspected fraud", "cleared after review"]
    assert_registry_verifies(app)


def test_revoke_a_serial_range(app, api, console, auditor):
    (alice, bob), batch = metro_day(app, api, 10, 5)
    page = f"/console/batches/{batch.id}"
    assert "撤销序号范围" in console.page(page)
    form = {"serial_prefix": batch.serial_prefix, "first": "1", "last": "100"}
    _, flashes = console.submit("/console/revocations", page, reason="", **form)
    assert flashes == NO_REASON
    for bad in ({"first": "0"}, {"first": "100", "last": "1"}, {"first": "one"}, {"serial_prefix": "BZ-NOPE"}):
        _, flashes = console.submit("/console/revocations", page, **(form | {"reason": "fraud"} | bad))
        assert flashes == [("error", "请填写正确的批次与序号范围。")], bad
    assert api.http.get("/api/v1/me", headers=alice.auth()).get_json()["account"]["balance_g"] == 468
    assert actions_by(app, auditor) == []

    location, flashes = console.submit("/console/revocations", page, reason="fraud confirmed", **form)
    assert location == f"http://localhost{page}" and flashes == [("ok", "已撤销仍持有的碳减排量。")]
    assert api.http.get("/api/v1/me", headers=alice.auth()).get_json()["account"]["balance_g"] == 368
    assert api.http.get("/api/v1/me", headers=bob.auth()).get_json()["account"]["balance_g"] == 234
    assert actions_by(app, auditor) == ["revoke"]
    with app.app_context():
        record = db.session.scalar(select(AuditRecord).where(AuditRecord.action == "revoke"))
        assert record.payload["amount_g"] == 100 and record.payload["reason"] == "fraud confirmed"
    # The revoked units show as revoked when traced.
    unit = console.page(f"/console/units/{batch.serial_prefix}-000000050")
    assert "revoke" in unit and "revocation" in unit
    assert re.search(r"已撤销<b>0\.1 kg</b>", console.page("/console/"))
    assert_registry_verifies(app)


def test_run_verification_is_recorded(app, api, console, auditor):
    metro_day(app, api, 10)
    assert "立即核验全部不变量" in console.page("/console/health")
    token = console.token("/console/health")
    answer = console.http.post("/console/health/verify", data={"csrf_token": token})
    assert answer.status_code == 200
    body = html.unescape(answer.get_data(as_text=True))
    assert "全部不变量成立。" in body and "FAILED" not in body
    assert body.count('<td class="ok">ok</td><td class="num">0</td>') == 11  # DOMAIN.md's eight, MARKET.md's three
    assert actions_by(app, auditor) == ["registry_verified"]
    with app.app_context():
        record = db.session.scalar(select(AuditRecord).where(AuditRecord.action == "registry_verified"))
        assert record.payload == {"ok": True, "failed": []}
    dashboard = console.page("/console/")
    assert "最近核验" in dashboard and "通过" in dashboard
    audit_page = console.page("/console/audit")
    assert "registry_verified" in audit_page and f"user:{auditor}" in audit_page and "batch_issued" in audit_page
    assert_registry_verifies(app)


# --- trace -------------------------------------------------------------------------------------

def test_trace_a_serial_an_account_a_batch_and_a_merchant(app, api, console):
    (alice, bob), batch = metro_day(app, api, 10, 5)
    serial = f"{batch.serial_prefix}-000000001"
    found = console.http.get(f"/console/trace?q={serial}")
    assert found.status_code == 302 and found.headers["Location"] == f"/console/units/{serial}"
    unit = console.page(found.headers["Location"])
    event = load(app, GreenEvent, account_id=load(app, Account, number=alice.account_number).id)
    assert event.rationale and event.rationale in unit
    assert alice.account_number in unit and batch.serial_prefix in unit and "metro" in unit
    # The other resident's units lead to their own trip.
    bob_event = load(app, GreenEvent, account_id=load(app, Account, number=bob.account_number).id)
    last = console.page(f"/console/units/{batch.serial_prefix}-{batch.quantity_g:09d}")
    assert bob.account_number in last and f"<tr><th>ID</th><td>{bob_event.id}</td></tr>" in last

    found = console.http.get(f"/console/trace?q=%20{alice.account_number}%20")
    assert found.headers["Location"] == f"/console/accounts/{alice.account_number}"
    account = console.page(found.headers["Location"])
    assert "468 g" in account and "issue" in account and serial[:-9] in account

    found = console.http.get(f"/console/trace?q={batch.serial_prefix}")
    assert found.headers["Location"] == f"/console/batches/{batch.id}"
    assert batch.serial_prefix in console.page(found.headers["Location"])

    staff(app, CASHIER_PHONE, role="merchant_staff")
    merchant_id = apply_merchant(api, api_login(api, CASHIER_PHONE), "黄河路面馆")
    listed = console.page("/console/trace?q=黄河路")
    assert f'href="/console/merchants/{merchant_id}">黄河路面馆</a> (pending)' in listed
    assert f'href="/console/merchants/{merchant_id}"' in console.page(f"/console/trace?q={merchant_id}")


def test_unknown_things_are_404_not_500(app, api, console):
    _, batch = metro_day(app, api, 10)
    for path in (f"/console/units/{batch.serial_prefix}-000999999", "/console/units/BZ-TRIP1-20200101-0001-000000001",
                 "/console/units/not-a-serial", "/console/accounts/BZ0000000000", "/console/batches/999999",
                 "/console/merchants/999999", "/console/methodology-versions/999999", "/console/coupons/999999",
                 "/console/exports/merchants/999999/statement.csv"):
        assert console.http.get(path).status_code == 404, path
    redirected = console.http.get("/console/trace?q=BZ-TRIP1-20200101-0001-000000001", follow_redirects=True)
    assert redirected.status_code == 404
    # Searches that match nothing are an empty answer, whatever was typed.
    for q in ("BZ-TRIP1-20200101-0001", "nobody", "9" * 30, "9" * 12, "²", "١٢", "'; DROP TABLE merchants; --", "%_"):
        page = console.page(f"/console/trace?q={q}")
        assert "无" in page, q


# --- exports -----------------------------------------------------------------------------------

def test_export_batches_and_retirements_of_a_period(app, api, console, auditor, batches_wait):
    (alice, bob), issued = metro_day(app, api, 10, 5)
    console.submit(f"/console/batches/{issued.id}/approve", f"/console/batches/{issued.id}", reason="ok")
    (_,), waiting = metro_day(app, api, 8, start=ago(days=2))
    retired = api.http.post("/api/v1/retirements", headers=alice.auth(),
                            json={"amount_g": 300, "beneficiary": "滨州市第一中学", "purpose": "校运会碳中和"})
    assert retired.status_code == 201, retired.get_json()
    today, yesterday = shanghai_day(ago(minutes=0)), issued.vintage

    answer = console.http.get(f"/console/exports/batches.csv?from={waiting.vintage}&to={today}")
    assert answer.headers["Content-Disposition"] == (
        f'attachment; filename="batches-{waiting.vintage}-{today}.csv"')
    header, *rows = read_csv(answer)
    assert header == ["serial_prefix", "vintage", "status", "quantity_g", "capped_g", "accounts", "events",
                      "auto_approved", "approved_by", "approved_at", "issued_at", "note"]
    assert [row[:9] for row in rows] == [
        [waiting.serial_prefix, str(waiting.vintage), "proposed", str(waiting.quantity_g), "0", "1", "1", "False", ""],
        [issued.serial_prefix, str(yesterday), "issued", "702", "0", "2", "2", "False", str(auditor)],
    ]
    assert rows[1][9] and rows[1][10] and rows[1][11] == "ok"
    only_yesterday = read_csv(console.http.get(f"/console/exports/batches.csv?from={yesterday}&to={yesterday}"))
    assert [row[0] for row in only_yesterday[1:]] == [issued.serial_prefix]

    header, *rows = read_csv(console.http.get(f"/console/exports/retirements.csv?from={yesterday}&to={today}"))
    assert header == ["number", "time", "account", "amount_g", "beneficiary", "purpose"]
    assert [row[0] for row in rows] == [retired.get_json()["number"]]
    assert rows[0][2:] == [alice.account_number, "300", "滨州市第一中学", "校运会碳中和"]
    assert read_csv(console.http.get(f"/console/exports/retirements.csv?from={yesterday}&to={yesterday}"))[1:] == []

    # The default period is the last 30 days; a bad one is a 400.
    assert len(read_csv(console.http.get("/console/exports/batches.csv"))) == 3
    for query in (f"from={today}&to={yesterday}", "from=2020-01-01&to=2026-01-01", "from=yesterday"):
        assert console.http.get(f"/console/exports/batches.csv?{query}").status_code == 400, query
    assert "签发批次" in console.page("/console/exports")


def test_export_a_merchant_statement(app, api, console):
    staff(app, CASHIER_PHONE, role="merchant_staff")
    cashier = api_login(api, CASHIER_PHONE)
    shop = apply_merchant(api, cashier, "黄河路面馆")
    staff(app, "13700000002", role="merchant_staff")
    pending = apply_merchant(api, api_login(api, "13700000002"), "还在审核的店")
    console.submit(f"/console/merchants/{shop}/approve", f"/console/merchants/{shop}", reason="licence checked")
    campaign = api.http.post(f"/api/v1/merchants/{shop}/campaigns", headers=cashier, json={
        "title": "绿色出行满减券", "face_value_fen": 500, "price_g": 100, "stock": 3, "per_resident_limit": 1,
        "valid_from": iso(ago(hours=1)), "valid_until": iso(ago(hours=-48))})
    assert campaign.status_code == 201, campaign.get_json()
    (alice,), _ = metro_day(app, api, 10)
    claimed = api.http.post(f"/api/v1/campaigns/{campaign.get_json()['id']}/claim", headers=alice.auth())
    assert claimed.status_code == 201, claimed.get_json()

    exports = console.page("/console/exports")
    assert "黄河路面馆" in exports and "还在审核的店" not in exports
    today = shanghai_day(ago(minutes=0))
    answer = console.http.get(f"/console/exports/merchants/{shop}/statement.csv?from={today - timedelta(days=1)}"
                              f"&to={today}")
    assert answer.headers["Content-Disposition"].startswith(f'attachment; filename="statement-{shop}-')
    header, claim, blank, totals, total = read_csv(answer)
    assert header == ["time", "type", "transaction_id", "coupon_id", "campaign", "account", "amount_g", "memo"]
    assert claim[1] == "claim" and claim[3] == str(claimed.get_json()["id"]) and claim[4] == "绿色出行满减券"
    assert (claim[5], claim[6]) == ("escrow", "100")
    assert blank == [] and total == ["total", "claim", "", "", "", "escrow", "100", ""]

    # A merchant still pending has no statement: said so, back on the exports page.
    refused = console.http.get(f"/console/exports/merchants/{pending}/statement.csv")
    assert refused.status_code == 302 and refused.headers["Location"] == "/console/exports"
    assert "该商户尚未获批，没有流水。" in console.page("/console/exports")
