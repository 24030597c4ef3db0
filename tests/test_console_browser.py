"""The audit console in headless Chromium, as an auditor uses it: sign in, open the queue,
approve a pending batch with a reason, trace a unit from the search box, download a CSV;
a resident's credentials are refused.

The app is served by a real HTTP server in a thread; the browser is Debian's Chromium
(/usr/bin/chromium) driven by the Python `playwright` package, launched through
executable_path (platform/test.sh installs both; `playwright install` cannot download here).
"""
import csv
import io

import pytest
from sqlalchemy import select

from accounting.issuance.models import IssuanceBatch
from accounting.ledger.models import Account, AuditRecord
from accounting.record.models import GreenEvent
from config.extensions import db
from tests.console_support import AUDITOR_PHONE, PASSWORD, assert_registry_verifies, load, metro_day, staff
from tests.support import RESIDENT_PASSWORD

WAIT_MS = 15_000


@pytest.fixture
def page(browser, live_url):
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN", accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    page.goto(f"{live_url}/console/")
    yield page
    context.close()


def _sign_in(page, phone, password):
    page.fill("input[name=phone]", phone)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")


def test_auditor_approves_traces_and_exports(app, api, page, live_url, tmp_path, monkeypatch):
    from playwright.sync_api import expect

    monkeypatch.setitem(app.config, "ISSUANCE_AUTO_APPROVE_MAX_G", 0)  # the batch waits for the auditor
    (alice, bob), batch = metro_day(app, api, 10, 5)
    auditor = staff(app, AUDITOR_PHONE)

    # Any console address sends a stranger to the sign-in form first.
    expect(page).to_have_url(f"{live_url}/console/login?next=/console/")
    _sign_in(page, AUDITOR_PHONE, PASSWORD)
    expect(page).to_have_url(f"{live_url}/console/")
    expect(page.locator("header .brand")).to_have_text("滨州碳普惠 · 审核后台")
    expect(page.locator("a.card", has_text="待批签发批次").locator("b")).to_have_text("1")
    page.screenshot(path=str(tmp_path / "console-dashboard.png"), full_page=True)

    # The queue, the batch, a reason, approve: issued once the approval commits.
    page.click("header >> text=待审批")
    row = page.locator("tr", has_text=batch.serial_prefix)
    expect(row).to_contain_text("702")
    row.locator("text=审核").click()
    expect(page).to_have_url(f"{live_url}/console/batches/{batch.id}")
    expect(page.locator("h1")).to_contain_text(batch.serial_prefix)
    approve = page.locator("form", has=page.locator("button", has_text="批准并签发"))
    approve.locator("button").click()  # no reason yet: the browser itself asks for one
    expect(page.locator(".flash")).to_have_count(0)
    assert load(app, IssuanceBatch, id=batch.id).status == "proposed"
    approve.locator("input[name=reason]").fill("抽样核对无误")
    approve.locator("button").click()
    expect(page.locator(".flash.ok")).to_have_text("已批准，正在签发。")
    expect(page.locator(".card", has_text="状态").locator("b")).to_have_text("issued")
    issued = load(app, IssuanceBatch, id=batch.id)
    assert (issued.status, issued.approved_by, issued.decision_note) == ("issued", auditor, "抽样核对无误")
    assert api.http.get("/api/v1/me", headers=alice.auth()).get_json()["account"]["balance_g"] == 468

    # Trace a unit by typing its serial into the search box.
    serial = f"{batch.serial_prefix}-000000500"  # alice holds 1..468, bob 469..702
    page.click("header >> text=追溯")
    page.fill("input[name=q]", serial)
    page.press("input[name=q]", "Enter")
    expect(page).to_have_url(f"{live_url}/console/units/{serial}")
    bob_account = load(app, Account, number=bob.account_number)
    event = load(app, GreenEvent, account_id=bob_account.id)
    expect(page.locator("tr", has_text="核算依据").first).to_contain_text(event.rationale)
    expect(page.locator("table").nth(1)).to_contain_text(bob.account_number)

    # Export the batches of the period as CSV.
    page.click("header >> text=导出")
    form = page.locator("form", has_text="签发批次")
    form.locator("input[name=from]").fill(batch.vintage.isoformat())
    form.locator("input[name=to]").fill(batch.vintage.isoformat())
    with page.expect_download() as download_info:
        form.locator("button").click()
    download = download_info.value
    assert download.suggested_filename == f"batches-{batch.vintage}-{batch.vintage}.csv"
    text = open(download.path(), encoding="utf-8-sig").read()
    header, *rows = list(csv.reader(io.StringIO(text)))
    assert header[:4] == ["serial_prefix", "vintage", "status", "quantity_g"]
    assert [row[:4] for row in rows] == [[batch.serial_prefix, str(batch.vintage), "issued", "702"]]
    assert rows[0][8] == str(auditor) and rows[0][11] == "抽样核对无误"

    # The approval is in the audit log, on the page and in the table; the registry verifies.
    page.click("header >> text=审计日志")
    expect(page.locator("tr", has_text="batch_approved")).to_contain_text(f"user:{auditor}")
    with app.app_context():
        actions = list(db.session.scalars(select(AuditRecord.action).where(AuditRecord.actor == f"user:{auditor}")))
    assert actions == ["batch_approved"]
    assert_registry_verifies(app)


def test_a_residents_credentials_cannot_open_the_console(api, page, live_url):
    from playwright.sync_api import expect

    resident = api.register()
    _sign_in(page, resident.phone, RESIDENT_PASSWORD)
    expect(page.locator(".flash.error")).to_contain_text("无权使用审核后台")
    expect(page.locator("header")).to_have_count(0)
    page.goto(f"{live_url}/console/queues")
    expect(page).to_have_url(f"{live_url}/console/login?next=/console/queues")
    expect(page.locator("h1")).to_have_text("审核后台登录")
