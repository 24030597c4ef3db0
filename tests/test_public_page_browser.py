"""The public page in headless Chromium, as a citizen opens it on a desktop and on a 390 px phone, in
Chinese and in English: no sign-in, every section there, nothing the page's own policy refuses (no
script, no inline style), the charts drawn, nothing wider than the phone but a table scrolled on its
own. A screenshot of each is kept in test-artifacts/public/ at the repository's root."""
from pathlib import Path

import pytest

from tests.public_support import busy_public_registry

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts" / "public"
WAIT_MS = 15_000
SCREENS = {"desktop": {"viewport": {"width": 1280, "height": 900}},
           "phone": {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True,
                     "device_scale_factor": 2}}
SECTIONS = ("totals", "months", "methodologies", "districts", "coupons", "market", "pool", "audit", "retirements")


@pytest.fixture
def seeded(app, api, live_url):
    """A busy registry, served over HTTP; the base URL."""
    busy_public_registry(app, api)
    return live_url


def _open(browser, url: str, screen: str, locale: str):
    context = browser.new_context(**SCREENS[screen], locale=locale, timezone_id="Asia/Shanghai")
    context.set_default_timeout(WAIT_MS)
    page = context.new_page()
    refused, errors = [], []
    page.on("console", lambda message: refused.append(message.text)
            if "Content Security Policy" in message.text else None)
    page.on("pageerror", lambda error: errors.append(error))
    answer = page.goto(url)
    return context, page, answer, refused, errors


def test_public_page_in_both_languages_on_a_desktop_and_a_phone(browser, seeded):
    from playwright.sync_api import expect

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for screen, (lang, locale, url, title) in ((screen, case) for screen in SCREENS for case in (
            ("zh", "zh-CN", f"{seeded}/public", "滨州碳普惠 · 公开信息"),
            ("en", "zh-CN", f"{seeded}/public?lang=en", "Binzhou carbon inclusion: the public record"),
            ("en-header", "en-US", f"{seeded}/public", "Binzhou carbon inclusion: the public record"))):
        context, page, answer, refused, errors = _open(browser, url, screen, locale)
        try:
            assert answer.status == 200
            expect(page.locator("h1")).to_have_text(title)
            for section in SECTIONS:
                expect(page.locator(f"#{section}")).to_be_visible()
            expect(page.locator("#retirements tbody tr")).to_have_count(3)
            assert page.locator("#months svg.chart rect").count() >= 8  # 4 flows × at least two months
            assert page.locator("#market svg.chart circle").count() == 1
            assert page.locator("script").count() == 0
            # The stylesheet applied (it is the page's only style): the cards sit in a grid.
            assert page.locator("#totals").evaluate("e => getComputedStyle(e).display") == "grid"
            if screen == "phone":  # only a table's own scroller may be wider than the screen
                assert page.evaluate("document.documentElement.scrollWidth") <= 390
            if lang != "en-header":
                page.screenshot(path=str(ARTIFACTS / f"public-{lang}-{screen}.png"), full_page=True)
            assert refused == [] and errors == []
        finally:
            context.close()
    download_answer = browser.new_context().request.get(f"{seeded}/public/retirements.csv")
    assert download_answer.status == 200 and "滨州市第一中学" in download_answer.text()
