"""Browser fixtures for the end-to-end tests: headless Debian chromium through Playwright."""

from __future__ import annotations

import shutil

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture
def chromium_browser():
    """Headless Debian chromium through Playwright; each `new_page` is its own browser profile (cookies)."""
    if CHROMIUM is None:
        pytest.fail("the browser test needs Debian's chromium: run scripts/test.sh as root, or "
                    "`apt-get install -y chromium chromium-driver`")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=[
            "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--disable-background-networking"])
        yield browser
        browser.close()


def new_page(browser):
    page = browser.new_page(viewport={"width": 1440, "height": 1000}, accept_downloads=True)
    page.set_default_timeout(60_000)
    return page


@pytest.fixture
def browser_page(chromium_browser):
    yield new_page(chromium_browser)
