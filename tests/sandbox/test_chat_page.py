"""The browser chat page in headless Chromium (Debian's chromium package, via Playwright)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from bot.messages import Choices, InboundKind, Option, Text
from bot.sandbox.payloads import bsuid_for
from browser_support import chromium_page

pytestmark = pytest.mark.browser
Sandbox = Any  # the fixture type lives in conftest.py


@pytest.fixture
async def page(sandbox: Sandbox) -> AsyncIterator[Any]:
    async with chromium_page() as pg:
        yield pg


async def _start(page: Any, url: str, channel: str, phone: str) -> None:
    await page.goto(f"{url}/sandbox")
    await page.select_option("#channel", channel)
    await page.fill("#phone", phone)
    await page.select_option("#lang", "hi")
    await page.click("#start")
    await page.wait_for_selector("#chat:not([hidden])")


async def test_whatsapp_chat_in_browser(sandbox: Sandbox, page: Any) -> None:
    phone = "+919800000100"
    await _start(page, sandbox.url, "whatsapp", phone)
    await page.fill("#text", "I need a skin doctor")
    await page.click("#send")
    await page.wait_for_selector(".msg.me .meta:text('sent ✓')")
    [inbound] = sandbox.received.inbounds
    assert (inbound.user_id, inbound.phone, inbound.text) == (bsuid_for(phone), phone, "I need a skin doctor")

    # A list the bot sends arrives through the emulator and renders as clickable rows.
    options = (Option("doc:1", "Dr Mehta", "Dermatology"), Option("doc:2", "Dr Rao", "Dermatology"))
    await sandbox.wa.send(inbound.user_id, Choices("Which doctor?", options), idempotency_key="k")
    await page.click(".option[data-id='doc:2']")
    await page.wait_for_selector(".msg.me:nth-of-type(3) .meta:text('sent ✓')")
    choice = sandbox.received.inbounds[-1]
    assert (choice.kind, choice.choice_id, choice.choice_title) == (InboundKind.CHOICE, "doc:2", "Dr Rao")

    page.once("dialog", lambda dialog: dialog.accept("19.1197, 72.8464"))
    await page.click("#location")
    await page.wait_for_selector(".msg.me:nth-of-type(4) .meta:text('sent ✓')")
    loc = sandbox.received.inbounds[-1]
    assert (loc.kind, loc.latitude, loc.longitude) == (InboundKind.LOCATION, 19.1197, 72.8464)


async def test_sms_chat_in_browser(sandbox: Sandbox, page: Any) -> None:
    phone = "+919800000101"
    await _start(page, sandbox.url, "sms", phone)
    await page.fill("#text", "hi")
    await page.press("#text", "Enter")
    await page.wait_for_selector(".msg.me .meta:text('sent ✓')")
    assert sandbox.received.inbounds[-1].user_id == phone
    await sandbox.sms.send(phone, Text("नमस्ते! 1 Book 2 My appointments"), idempotency_key="s")
    bubble = await page.wait_for_selector(".msg.bot")
    assert "नमस्ते" in (await bubble.inner_text())
    assert "UCS-2" in (await bubble.inner_text())
    assert await page.query_selector(".option") is None  # SMS shows plain text, nothing to click

