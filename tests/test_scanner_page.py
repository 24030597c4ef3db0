"""The cashier's scanner page in headless Chromium: sign in, scan a coupon's QR image, verify, redeem.

The app is served by a real HTTP server in a thread (Playwright's sync API runs its own loop);
the browser is Debian's Chromium, driven by the Python `playwright` package (platform/test.sh
installs both; nothing is downloaded here).
"""
import pytest
from PIL import Image

from tests.browser_support import launch
from tests.coupons_support import STAFF_PASSWORD, claim, create_campaign, open_shop, residents_with_credits
from tests.support import RESIDENT_PASSWORD

CASHIER_PHONE = "13755500001"
WAIT_MS = 10_000


@pytest.fixture
def coupon(app, api, tmp_path):
    """A shop with a second cashier we know the phone of, and a resident's claimed coupon as a QR PNG."""
    shop = open_shop(app, api)
    result = app.test_cli_runner().invoke(args=[
        "users", "create", "--role", "merchant_staff", "--phone", CASHIER_PHONE, "--password", STAFF_PASSWORD,
        "--name", "王收银", "--merchant", str(shop.id)])
    assert result.exit_code == 0, result.output
    campaign = create_campaign(api, shop)
    [resident] = residents_with_credits(app, api, 1)
    claimed = claim(api.http, resident, campaign["id"])
    assert claimed.status_code == 201, claimed.get_json()
    png = api.http.get(f"/api/v1/me/coupons/{claimed.get_json()['id']}/qr.png", headers=resident.auth())
    assert png.mimetype == "image/png"
    path = tmp_path / "coupon-qr.png"
    path.write_bytes(png.data)
    return {"shop": shop, "campaign": campaign, "resident": resident, "id": claimed.get_json()["id"], "png": path}


def _page(browser, live_url, errors: list | None = None):
    page = browser.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN").new_page()
    page.set_default_timeout(WAIT_MS)
    if errors is not None:
        page.on("pageerror", lambda error: errors.append(error))
    page.goto(f"{live_url}/scanner")
    return page


def _sign_in(page, phone, password):
    page.fill("#login-form input[name=phone]", phone)
    page.fill("#login-form input[name=password]", password)
    page.click("#login-form button[type=submit]")


def test_cashier_scans_an_image_verifies_and_redeems_once(browser, live_url, api, coupon, tmp_path):
    from playwright.sync_api import expect

    errors = []
    page = _page(browser, live_url, errors)
    expect(page.locator("#scan-view")).to_be_hidden()
    _sign_in(page, CASHIER_PHONE, STAFF_PASSWORD)
    expect(page.locator("#scan-view")).to_be_visible()
    expect(page.locator("#who-name")).to_contain_text("王收银")

    page.set_input_files("#file", str(coupon["png"]))
    expect(page.locator("#state")).to_contain_text("可以核销")
    expect(page.locator("#coupon-title")).to_have_text(coupon["campaign"]["title"])
    expect(page.locator("#coupon-value")).to_have_text("¥5.00")
    expect(page.locator("#coupon-merchant")).to_have_text(coupon["shop"].name)
    expect(page.locator("#coupon-holder")).to_have_text("测***")
    page.screenshot(path=str(tmp_path / "scanner-verified.png"), full_page=True)

    page.click("#redeem")
    expect(page.locator("#state")).to_contain_text("核销成功")
    expect(page.locator("#redeem")).to_be_hidden()
    mine = api.http.get(f"/api/v1/me/coupons/{coupon['id']}", headers=coupon["resident"].auth()).get_json()
    assert mine["status"] == "redeemed"

    page.click("#next")
    page.set_input_files("#file", str(coupon["png"]))
    expect(page.locator("#state")).to_contain_text("不能核销")
    expect(page.locator("#state-detail")).to_contain_text(f"在 {coupon['shop'].name} 核销")
    expect(page.locator("#redeem")).to_be_hidden()
    page.screenshot(path=str(tmp_path / "scanner-again.png"), full_page=True)
    assert errors == []
    page.context.close()


def test_a_picture_without_a_code_and_a_forged_code_are_explained(browser, live_url, coupon, tmp_path):
    from playwright.sync_api import expect

    blank = tmp_path / "blank.png"
    Image.new("RGB", (300, 300), "white").save(blank)
    page = _page(browser, live_url)
    _sign_in(page, CASHIER_PHONE, STAFF_PASSWORD)
    page.set_input_files("#file", str(blank))
    expect(page.locator("#state")).to_contain_text("未识别到二维码")
    page.fill("#manual-token", "not-a-coupon")
    page.click("#manual-form button[type=submit]")
    expect(page.locator("#state")).to_contain_text("二维码无效")
    expect(page.locator("#redeem")).to_be_hidden()
    page.context.close()


def test_a_resident_cannot_use_the_page(browser, live_url, coupon, tmp_path):
    from playwright.sync_api import expect

    page = _page(browser, live_url)
    _sign_in(page, coupon["resident"].phone, RESIDENT_PASSWORD)
    expect(page.locator("#login-message")).to_contain_text("仅限商户收银员")
    expect(page.locator("#scan-view")).to_be_hidden()
    assert page.evaluate("sessionStorage.length") == 0
    page.screenshot(path=str(tmp_path / "scanner-refused.png"))
    _sign_in(page, CASHIER_PHONE, "wrong-password")
    expect(page.locator("#login-message")).to_contain_text("手机号或密码错误")
    page.context.close()


def _y4m(png_path, path, width=640, height=480):
    """The QR image as a still Y4M video: what Chromium's fake camera plays."""
    frame = Image.new("RGB", (width, height), "white")
    code = Image.open(png_path).convert("RGB")
    code.thumbnail((height - 40, height - 40))
    frame.paste(code, ((width - code.width) // 2, (height - code.height) // 2))
    y, cb, cr = frame.convert("YCbCr").split()
    chroma = [plane.resize((width // 2, height // 2)).tobytes() for plane in (cb, cr)]
    body = b"FRAME\n" + y.tobytes() + b"".join(chroma)
    path.write_bytes(f"YUV4MPEG2 W{width} H{height} F10:1 Ip A1:1 C420jpeg\n".encode() + body * 2)
    return path


def test_the_camera_reads_a_code_continuously(playwright, live_url, coupon, tmp_path):
    from playwright.sync_api import expect

    video = _y4m(coupon["png"], tmp_path / "camera.y4m")
    camera = [f"--use-file-for-fake-video-capture={video}", "--use-fake-device-for-media-stream",
              "--use-fake-ui-for-media-stream"]
    browser = launch(playwright, camera)
    try:
        page = _page(browser, live_url)
        _sign_in(page, CASHIER_PHONE, STAFF_PASSWORD)
        page.click("#camera")
        expect(page.locator("#video")).to_be_visible()
        expect(page.locator("#state")).to_contain_text("可以核销")
        expect(page.locator("#coupon-title")).to_have_text(coupon["campaign"]["title"])
        page.click("#camera")
        expect(page.locator("#video")).to_be_hidden()
    finally:
        browser.close()
