"""What the browser tests share: Debian's Chromium driven by the Python `playwright` package.

The browser is /usr/bin/chromium, launched through executable_path (platform/test.sh installs it;
`playwright install` cannot download here). Without it or the package the tests skip, saying how
to get them; under CI=true they fail instead. The fixtures `playwright`, `browser` and `live_url`
are in tests/conftest.py.
"""
import os

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
INSTALL = ("apt-get update && apt-get install -y chromium, and .venv/bin/pip install -e '.[test]' "
           "(platform/test.sh does both)")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def missing(what: str):
    message = f"{what}; the browser tests need it: {INSTALL}"
    if IN_CI:
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def start_playwright():
    """Playwright's sync driver as a generator for a fixture, or a skip (a failure under CI)."""
    if not os.path.exists(CHROMIUM):
        missing(f"{CHROMIUM} is missing")
    try:
        from playwright.sync_api import expect, sync_playwright
    except ImportError:
        missing("the Python playwright package is not installed")
    # expect() waits for its condition, up to a bound: 5 s by default, which a service worker's
    # reload on two cores shared with the rest of the suite sometimes needs more than.
    expect.set_options(timeout=20_000)
    with sync_playwright() as driver:
        yield driver


def launch(playwright, extra_args=()):
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS + list(extra_args))
