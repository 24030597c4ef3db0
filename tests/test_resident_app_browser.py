"""The resident app at /app in headless Chromium on a phone (390×844, touch), as a resident uses it:
sign up, see the account, record trips, claim a coupon and show its code at the till, move
credits, work offline, switch to English, manage privacy; and at 320 px with doubled text.

The app is served over real HTTP by a thread (tests/support.py `served`); Chromium is Debian's
(tests/browser_support.py). Each page's screenshot is kept in test-artifacts/resident-app/ at the
repository's root (gitignored). Nothing waits on a clock: every wait is on a condition, bounded.
"""
import io
import json
import re
import zipfile
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import zxingcpp
from flask import request, request_started
from PIL import Image

from tests.browser_support import CHROMIUM, CHROMIUM_ARGS
from tests.coupons_support import METRO_10_KM_G, create_campaign, open_shop, residents_with_credits
from tests.support import RESIDENT_PASSWORD, ago, iso, next_phone

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts" / "resident-app"
PHONE = {"viewport": {"width": 390, "height": 844}, "has_touch": True, "is_mobile": True, "device_scale_factor": 2,
         "locale": "zh-CN", "timezone_id": "Asia/Shanghai"}
WAIT_MS = 15_000
# What script in the page may keep: these preferences, and never a token.
PREFERENCES = {"binzhou-app-language", "binzhou-app-district"}
SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.fixture
def phone(browser):
    """A fresh phone: its own cookies, storage and service workers."""
    context = browser.new_context(**PHONE)
    context.set_default_timeout(WAIT_MS)
    yield context
    context.close()


@pytest.fixture
def page(phone):
    page = phone.new_page()
    errors = []
    page.on("pageerror", lambda error: errors.append(error))
    yield page
    assert errors == [], errors


def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def expect(target):
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(target)


def sign_in(page, phone: str, password: str = RESIDENT_PASSWORD) -> None:
    expect(page.locator("h1")).to_have_text("登录")
    page.get_by_label("手机号").fill(phone)
    page.get_by_label("密码").fill(password)
    page.get_by_role("button", name="登录").click()
    expect(page.locator("#balance")).to_be_visible()


def assert_no_token_within_scripts_reach(page) -> None:
    seen = page.evaluate("() => ({local: {...localStorage}, session: {...sessionStorage}, cookie: document.cookie})")
    assert set(seen["local"]) <= PREFERENCES and seen["session"] == {}
    assert seen["cookie"] == ""  # the refresh cookie is httpOnly, and no other cookie is set
    [refresh] = [cookie for cookie in page.context.cookies() if cookie["name"] == "bz_refresh"]
    assert (refresh["httpOnly"], refresh["sameSite"], refresh["path"]) == (True, "Strict", "/api/v1/auth")


def test_sign_up_lands_on_home_with_nothing_yet_and_no_token_within_scripts_reach(page, live_url):
    page.goto(f"{live_url}/app/")
    expect(page.locator("h1")).to_have_text("登录")
    shot(page, "01-sign-in")
    page.get_by_role("link", name="注册").click()
    expect(page.locator("h1")).to_have_text("注册")
    page.get_by_label("手机号").fill(next_phone())
    page.get_by_label("密码").fill(RESIDENT_PASSWORD)
    page.get_by_label("昵称").fill("小绿")
    page.get_by_label("所在区县").select_option("滨城区")
    shot(page, "02-sign-up")
    page.get_by_role("button", name="注册并登录").click()

    for figure in ("#balance", "#pending", "#today"):
        expect(page.locator(f"{figure} b")).to_have_text("0 kg")
    expect(page.locator("#balance .explain")).to_contain_text("已经签发到你账户的减排量")
    expect(page.locator("#pending .explain")).to_contain_text("已核算、还没签发")
    expect(page.locator(".chart figcaption")).to_have_text("30 天合计 0 kg，最多的一天 0 kg。")
    shot(page, "03-home")
    assert_no_token_within_scripts_reach(page)

    # A reload forgets the access token (it lived in memory); the refresh cookie signs in again.
    page.reload()
    expect(page.locator("#balance b")).to_have_text("0 kg")
    expect(page.locator("main .lead")).to_have_text("小绿，你好！")


def _decoded(page) -> str:
    [code] = zxingcpp.read_barcodes(Image.open(io.BytesIO(page.screenshot())))
    assert code.format == zxingcpp.BarcodeFormat.QRCode
    return code.text


def test_a_claimed_coupons_code_on_screen_is_one_the_till_accepts(app, api, page, live_url):
    shop = open_shop(app, api)
    campaign = create_campaign(api, shop, title="绿色出行满减券")
    [resident] = residents_with_credits(app, api, 1)
    page.clock.install()  # the page's timers run on a clock the test can move: the code's renewal
    page.goto(f"{live_url}/app/")
    sign_in(page, resident.phone)
    expect(page.locator("#balance b")).to_have_text("0.468 kg")

    page.get_by_role("navigation", name="主要页面").get_by_role("link", name="优惠券").click()
    page.get_by_role("button", name=f"领取：{campaign['title']}").click()
    expect(page.locator(".campaign .notice")).to_contain_text("领取成功")
    expect(page.locator(".coupon.claimed")).to_contain_text(campaign["title"])
    shot(page, "04-coupons")
    page.get_by_role("link", name="出示二维码", exact=True).click()

    code = page.locator("#coupon-qr")
    expect(code).to_be_visible()
    page.wait_for_function("() => document.querySelector('#coupon-qr')?.naturalWidth > 0")
    assert code.bounding_box()["width"] >= 0.85 * PHONE["viewport"]["width"]  # big enough for a till's scanner
    expect(page.get_by_role("dialog")).to_have_css("background-color", "rgb(255, 255, 255)")
    shot(page, "05-coupon-code")
    verified = api.http.post("/api/v1/redemptions/verify", json={"token": _decoded(page)}, headers=shop.cashier)
    assert verified.status_code == 200, verified.get_json()
    assert verified.get_json()["valid"] is True and verified.get_json()["coupon"]["title"] == campaign["title"]

    # Ten minutes on, well before the token's fifteen, the page fetches a fresh code by itself.
    with page.expect_response(lambda response: response.url.endswith("/qr.svg")) as renewed:
        page.clock.fast_forward("10:00")
    assert renewed.value.status == 200
    page.wait_for_function("() => document.querySelector('#coupon-qr')?.naturalWidth > 0")
    again = api.http.post("/api/v1/redemptions/verify", json={"token": _decoded(page)}, headers=shop.cashier)
    assert again.get_json()["valid"] is True
    assert_no_token_within_scripts_reach(page)


def _fill_trip(page, mode: str, start, minutes: int, amount: str) -> None:
    """The trip form as a resident fills it, on the phone's clock (Asia/Shanghai, as PHONE says)."""
    page.get_by_label("出行方式").select_option(mode)
    for name, moment in (("出发", start), ("到达", start + timedelta(minutes=minutes))):
        local = moment.astimezone(SHANGHAI)
        page.get_by_label(f"{name}日期", exact=True).fill(local.strftime("%Y-%m-%d"))
        page.get_by_label(f"{name}时间", exact=True).fill(local.strftime("%H:%M"))
    page.get_by_label("距离（公里）").fill(amount)
    page.get_by_role("button", name="提交").click()


def test_a_trip_is_accepted_a_duplicate_or_refused_with_the_apis_reason(api, page, live_url):
    resident = api.register()
    page.goto(f"{live_url}/app/")
    sign_in(page, resident.phone)
    page.get_by_role("navigation", name="主要页面").get_by_role("link", name="记出行").click()
    expect(page.locator("h1")).to_have_text("记录出行")
    answer = page.locator("#trip-answer")
    start = ago(hours=2).replace(second=0, microsecond=0)

    _fill_trip(page, "metro", start, 20, "10")
    expect(answer).to_contain_text("已受理。")
    expect(answer).to_contain_text("已核算：减排 0.468 kg。")
    shot(page, "06-trip-accepted")

    _fill_trip(page, "metro", start, 20, "10")  # the same trip again
    expect(answer).to_contain_text("重复：这次出行之前已经记录过了")

    # Refused on arrival: older than the claim window. The page shows the API's own words.
    old = ago(days=10)
    refusal = api.http.post("/api/v1/me/trips", headers=resident.auth(), json={
        "mode": "bus", "started_at": iso(old), "ended_at": iso(old + timedelta(minutes=20)), "distance_m": 5000})
    [reason] = refusal.get_json()["errors"]["started_at"]
    _fill_trip(page, "bus", old, 20, "5")
    expect(answer.locator(".problem")).to_contain_text("出发时间：" + reason)
    shot(page, "07-trip-refused")

    # Refused by a rule when quantified: 100 km by bus in 20 minutes is faster than a bus goes.
    _fill_trip(page, "bus", ago(hours=5), 20, "100")
    expect(answer).to_contain_text("未计入： 速度超出该出行方式的合理范围。")

    page.get_by_role("link", name="查看我的行为").click()
    expect(page.locator("h1")).to_have_text("我的行为")
    refused = page.locator(".card.status-rejected")
    expect(refused).to_contain_text("不计的原因： 速度超出该出行方式的合理范围。")
    expect(page.locator(".card.status-quantified")).to_contain_text("计算方法：")
    shot(page, "08-actions")


@contextmanager
def requests_served(app):
    """The paths the app serves meanwhile (from any thread: the live server's too)."""
    paths = []

    def note(sender, **extra):
        paths.append(request.path)

    request_started.connect(note, app)
    try:
        yield paths
    finally:
        request_started.disconnect(note, app)


def test_the_shell_opens_offline_and_says_so(app, page, live_url):
    page.goto(f"{live_url}/app/")
    expect(page.locator("h1")).to_have_text("登录")
    # The worker is active and controls the page: the shell and its files are in its cache.
    scope = page.evaluate("navigator.serviceWorker.ready.then((registration) => registration.scope)")
    assert scope == f"{live_url}/app"
    page.wait_for_function("navigator.serviceWorker.controller !== null")

    page.context.set_offline(True)
    # Chromium's offline emulation does not cover every request a service worker's page sends (a
    # fetch the worker falls through on may still reach the network: playwright#2311), so the
    # context also refuses the network itself, as a phone without signal would.
    page.context.route("**/*", lambda route: route.abort("internetdisconnected"))
    with requests_served(app) as served_offline:
        page.reload()
        expect(page.locator(".brand")).to_have_text("滨州碳普惠")
        expect(page.locator(".offline")).to_contain_text("离线")
        expect(page.locator("h1")).to_have_text("当前离线")
        shot(page, "09-offline")
        page.goto(f"{live_url}/app")  # the address without its slash is in the worker's scope too
        expect(page.locator(".offline")).to_be_visible()
    assert served_offline == []  # all of it came out of the worker's cache

    page.context.unroute("**/*")
    page.context.set_offline(False)  # back online, the app carries on by itself
    expect(page.locator("h1")).to_have_text("登录")
    expect(page.locator(".offline")).to_have_count(0)


def test_english_is_one_tap_away_and_the_api_answers_in_it(api, page, live_url):
    resident = api.register()
    page.goto(f"{live_url}/app/")
    expect(page.locator("h1")).to_have_text("登录")
    page.get_by_role("button", name="English").click()
    expect(page.locator("h1")).to_have_text("Sign in")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    page.get_by_label("Phone").fill(resident.phone)
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator(".problem")).to_contain_text("Wrong phone or password")
    page.get_by_label("Password").fill(RESIDENT_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("h1")).to_have_text("My carbon account")
    expect(page.get_by_role("navigation", name="Main pages")).to_contain_text("Coupons")
    shot(page, "10-home-english")

    page.reload()  # the choice is remembered
    expect(page.locator("h1")).to_have_text("My carbon account")
    page.get_by_role("button", name="中文").click()
    expect(page.locator("h1")).to_have_text("我的碳账户")


def test_credits_move_from_the_app_transfer_retire_with_a_certificate_donate(app, api, page, live_url, file_source):
    file_source("BZBUS", "transit", name="滨州公交")
    alice, bob = residents_with_credits(app, api, 2)
    page.goto(f"{live_url}/app/")
    sign_in(page, alice.phone)
    tabs = page.get_by_role("navigation", name="主要页面")

    tabs.get_by_role("link", name="我的").click()
    expect(page.locator("#account-number")).to_have_text(alice.account_number)
    page.get_by_role("button", name="显示账户码（回收站扫码）").click()
    expect(page.get_by_role("img", name="我的账号二维码")).to_be_visible()
    shot(page, "11-me")

    page.get_by_role("link", name="数据来源").click()
    page.get_by_role("button", name="授权 滨州公交").click()
    expect(page.locator(".card", has_text="滨州公交")).to_contain_text("已授权")
    expect(page.locator(".card", has_text="滨州公交")).to_contain_text("上下车时间、乘坐方式和里程")
    shot(page, "12-sources")
    sources = api.http.get("/api/v1/me/sources", headers=alice.auth()).get_json()["items"]
    assert [source["code"] for source in sources] == ["BZBUS"]
    page.get_by_role("button", name="撤回对 滨州公交 的授权").click()
    expect(page.locator(".card", has_text="滨州公交")).to_contain_text("未授权")
    assert api.http.get("/api/v1/me/sources", headers=alice.auth()).get_json()["items"] == []
    history = page.locator(".consent-history li")  # GET /me/consents, newest first
    expect(history).to_have_count(2)
    expect(history.first).to_contain_text("撤回了对 滨州公交 的授权")
    expect(history.last).to_contain_text("授权了 滨州公交")

    page.goto(f"{live_url}/app/#/transfer")
    page.get_by_label("对方账号").fill(bob.account_number)
    page.get_by_label("数量（克）").fill("100")
    page.get_by_role("button", name="确认转赠").click()
    expect(page.locator(".notice")).to_contain_text("已转出 0.1 kg。")
    expect(page.locator(".balance-line")).to_contain_text("0.368 kg")
    shot(page, "13-transfer")
    assert api.http.get("/api/v1/me", headers=bob.auth()).get_json()["account"]["balance_g"] == 568

    page.goto(f"{live_url}/app/#/retire")
    page.get_by_label("数量（克）").fill("50")
    page.get_by_label("注销用途").fill("抵消 2026 年通勤排放")
    page.get_by_role("button", name="确认注销").click()
    expect(page.locator(".notice")).to_contain_text("已注销 0.05 kg，证书编号")
    certificate = page.get_by_role("link", name="查看注销证书")
    svg = api.http.get(certificate.get_attribute("href"))
    assert svg.status_code == 200 and svg.mimetype == "image/svg+xml"
    assert "抵消 2026 年通勤排放" in svg.get_data(as_text=True)
    shot(page, "14-retire")

    page.goto(f"{live_url}/app/#/donate")
    expect(page.locator("#pool")).to_contain_text("SYSPOOL")
    page.get_by_label("数量（克）").fill("18")
    page.get_by_role("button", name="确认捐赠").click()
    expect(page.locator(".notice")).to_contain_text("感谢！已捐赠 0.018 kg。")
    expect(page.locator("#pool")).to_contain_text("0.018 kg")
    shot(page, "15-donate")

    tabs.get_by_role("link", name="首页").click()
    expect(page.locator("#balance b")).to_have_text("0.3 kg")


def test_privacy_exports_a_zip_and_closes_the_account_for_real(browser, app, api, live_url):
    """GET /me/export and DELETE /me end to end: the download is the server's zip and opens; a wrong
    password is refused in words; closing retires the balance, signs the resident out, and signing
    in again fails."""
    context = browser.new_context(**PHONE)
    context.set_default_timeout(WAIT_MS)
    page = context.new_page()
    [resident] = residents_with_credits(app, api, 1)
    page.goto(f"{live_url}/app/")
    sign_in(page, resident.phone)
    page.goto(f"{live_url}/app/#/privacy")

    with page.expect_download() as download:
        page.get_by_role("button", name="下载我的数据（zip）").click()
    assert re.fullmatch(r"binzhou-carbon-export-\d{4}-\d{2}-\d{2}\.zip", download.value.suggested_filename)
    expect(page.locator(".notice")).to_contain_text("已开始下载")
    with zipfile.ZipFile(io.BytesIO(Path(download.value.path()).read_bytes())) as archive:
        assert archive.testzip() is None and {"export.json", "profile.csv", "events.csv"} <= set(archive.namelist())
        everything = json.loads(archive.read("export.json"))
    assert everything["profile"]["phone"] == resident.phone and len(everything["events"]) == 1

    page.get_by_label("密码").fill("not the password")
    page.get_by_label("以我（或他人）的名义注销").check()
    expect(page.get_by_label("注销受益人")).to_have_value("测试居民")
    page.get_by_label("注销受益人").fill("小绿的家人")
    page.get_by_label("我明白注销后无法恢复。").check()
    page.get_by_role("button", name="注销账号…").click()
    expect(page.get_by_role("alertdialog")).to_contain_text("剩余减排量将被注销")
    page.get_by_role("button", name="确认注销账号").click()
    expect(page.locator(".problem")).to_contain_text("密码错误")
    shot(page, "16-privacy-wrong-password")

    page.get_by_label("密码").fill(RESIDENT_PASSWORD)
    page.get_by_role("button", name="注销账号…").click()
    page.get_by_role("button", name="确认注销账号").click()
    expect(page.locator("h1")).to_have_text("登录")
    expect(page.locator(".notice")).to_contain_text("账号已注销")
    assert [cookie["name"] for cookie in context.cookies()] == []  # signing out deleted the refresh cookie
    assert api.http.get("/api/v1/me", headers=resident.auth()).status_code == 401  # every session ended
    [retired] = _retirements_of(app, resident.account_number)
    assert (retired.beneficiary, retired.amount_g) == ("小绿的家人", METRO_10_KM_G)

    page.get_by_label("手机号").fill(resident.phone)
    page.get_by_label("密码").fill(RESIDENT_PASSWORD)
    page.get_by_role("button", name="登录").click()
    expect(page.locator(".problem")).to_contain_text("手机号或密码错误")
    shot(page, "16-privacy-closed")
    context.close()


def _retirements_of(app, account_number: str) -> list:
    from sqlalchemy import select

    from accounting.ledger.models import Account, Retirement
    from config.extensions import db

    with app.app_context():
        found = list(db.session.scalars(select(Retirement).join(Account, Account.id == Retirement.account_id)
                                        .where(Account.number == account_number)))
        db.session.expunge_all()
        return found


UNNAMED_CONTROLS = """() => Array.from(document.querySelectorAll('input, select, textarea, button, a[href], img'))
  .filter((element) => element.getClientRects().length > 0)
  .filter((element) => {
    const labels = Array.from(element.labels || [], (label) => label.textContent).join('');
    const name = element.getAttribute('aria-label') || labels || element.getAttribute('alt') || element.textContent;
    return !(name || '').trim();
  })
  .map((element) => element.outerHTML)"""
PAGES = ["home", "trip", "actions", "sources", "coupons", "me", "transfer", "retire", "donate", "privacy"]


def test_every_page_fits_320_px_with_doubled_text_and_names_every_control(app, api, playwright, live_url, tmp_path):
    # The system's large text: the browser's own default font size doubled (its profile's setting,
    # which every rem of the app follows), on the narrowest phone screen in use.
    (tmp_path / "Default").mkdir()
    (tmp_path / "Default" / "Preferences").write_text(json.dumps(
        {"webkit": {"webprefs": {"default_font_size": 32, "default_fixed_font_size": 26}}}))
    narrow = PHONE | {"viewport": {"width": 320, "height": 640}}
    context = playwright.chromium.launch_persistent_context(
        str(tmp_path), executable_path=CHROMIUM, args=CHROMIUM_ARGS, **narrow)
    context.set_default_timeout(WAIT_MS)
    page = context.new_page()
    [resident] = residents_with_credits(app, api, 1)
    page.goto(f"{live_url}/app/")
    expect(page.locator("h1")).to_have_text("登录")

    def check(name: str) -> None:
        assert page.evaluate("getComputedStyle(document.body).fontSize") == "32px"
        assert page.evaluate("document.documentElement.scrollWidth") <= 320, f"{name} scrolls sideways"
        assert page.evaluate(UNNAMED_CONTROLS) == [], f"{name} has controls without a name"
        shot(page, f"320-{name}")

    try:
        check("sign-in")
        sign_in(page, resident.phone)
        for name in PAGES:
            page.goto(f"{live_url}/app/#/{name}")
            expect(page.locator("main h1")).to_be_visible()
            expect(page.locator("[role=status]", has_text="正在加载")).to_have_count(0)
            check(name)
    finally:
        context.close()
