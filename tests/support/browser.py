"""Chromium for the browser tests: Debian's package driven by Playwright, headless, skipped (or failed, with
WPUBLISHER_REQUIRE_BROWSER=1, as CI sets) where it is not installed."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"


def chromium_required() -> None:
    """Skip the test (fail it when a browser is required) without Chromium."""
    if not Path(CHROMIUM).exists():
        message = "no Chromium at /usr/bin/chromium (apt-get install chromium)"
        if os.environ.get("WPUBLISHER_REQUIRE_BROWSER") == "1":
            pytest.fail(message)
        pytest.skip(message)


def chromium_launch(playwright):
    """A headless Chromium browser (close it when done)."""
    return playwright.chromium.launch(
        executable_path=CHROMIUM,
        args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
    )


def reviewer_login(page, url: str, username: str, password: str) -> None:
    """Sign in on the console's login page and land on the dashboard."""
    page.goto(f"{url}/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button.primary")
    page.wait_for_url(f"{url}/")
