"""Browser fixtures: Debian's Chromium driven by Playwright, against a real gunicorn server."""

from __future__ import annotations

import shutil

import pytest

from tests.conftest import require

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


@pytest.fixture
def browser():
    """Launch headless Chromium (skipped outside CI when it is not installed)."""
    require(shutil.which("chromium") is not None, "Debian's chromium is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM, headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield browser
        browser.close()


def login_page(browser, live, username: str, password: str, **context_options):
    """Open a new page logged in as ``username``."""
    context = browser.new_context(**context_options)
    page = context.new_page()
    page.goto(f"{live.url}/login")
    page.fill("#username", username)
    page.fill("#password", password)
    page.click("#login-submit")
    page.wait_for_load_state("networkidle")
    return page
