"""Headless Chromium for the browser tests (Debian's `chromium` package, driven by Playwright).

One launch rule for every browser test: when Chromium is missing the test is skipped,
unless MYMEDIC_REQUIRE_BROWSER=1 (CI), where a missing browser is a failure.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import AsyncIterator
from typing import Any

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
LAUNCH_ARGS = ["--no-sandbox", "--disable-background-networking", "--disable-component-update", "--disable-gpu"]
DEFAULT_TIMEOUT_MS = 15_000


def require_chromium() -> None:
    """Skip (or, with MYMEDIC_REQUIRE_BROWSER=1, fail) when Chromium is not installed."""
    if os.path.exists(CHROMIUM):
        return
    if os.environ.get("MYMEDIC_REQUIRE_BROWSER") == "1":
        pytest.fail("chromium is required (MYMEDIC_REQUIRE_BROWSER=1) but not installed")
    pytest.skip("chromium is not installed (apt-get install chromium); set MYMEDIC_REQUIRE_BROWSER=1 to fail instead")


@contextlib.asynccontextmanager
async def chromium_page(*, timeout_ms: int = DEFAULT_TIMEOUT_MS, **context_options: Any) -> AsyncIterator[Any]:
    """A fresh page in a fresh headless Chromium (closed on exit)."""
    require_chromium()
    from playwright.async_api import async_playwright  # noqa: PLC0415 - only browser tests need it

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        try:
            context = await browser.new_context(**context_options)
            page = await context.new_page()
            page.set_default_timeout(timeout_ms)
            yield page
        finally:
            await browser.close()
