"""A patient books in the sandbox chat page, in headless Chromium, through the real pipeline.

What the page shows is read as the patient sees it (`innerText` of the chat bubbles), so a
reply that reached the DOM but is not rendered would fail. Each test leaves a screenshot
of the finished chat in its pytest tmp dir.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bot.booking import models as bm
from bot.booking.types import AppointmentStatus

pytestmark = [
    pytest.mark.browser,
    # arq 0.26 closes its pool with redis-py's deprecated close(); not ours to fix.
    pytest.mark.filterwarnings("ignore:Call to deprecated close:DeprecationWarning"),
]
Live = Any   # the fixture type lives in conftest.py
Page = Any   # playwright.async_api.Page (imported only when Chromium is there)

CODE = re.compile(r"MM-[A-Z0-9]{5}")

# Bot bubbles from index `since` on; true when one's visible text contains `text`.
_BOT_SAID = """([since, text]) => Array.from(document.querySelectorAll('#log .msg.bot'))
    .slice(since).some((el) => el.innerText.includes(text))"""


async def start_chat(page: Page, url: str, channel: str, phone: str) -> None:
    """Open /sandbox and start a chat as `phone` on `channel`."""
    await page.goto(f"{url}/sandbox")
    await page.select_option("#channel", channel)
    await page.fill("#phone", phone)
    await page.select_option("#lang", "en")
    await page.click("#start")
    await page.wait_for_selector("#chat:not([hidden])")


async def bot_count(page: Page) -> int:
    return int(await page.locator("#log .msg.bot").count())


async def wait_bot(page: Page, since: int, text: str) -> str:
    """Wait until a bot bubble after the first `since` shows `text`; return its visible text."""
    await page.wait_for_function(_BOT_SAID, arg=[since, text])
    bubbles = page.locator("#log .msg.bot")
    for i in range(await bubbles.count() - 1, since - 1, -1):
        shown = str(await bubbles.nth(i).inner_text())
        if text in shown:
            return shown
    raise AssertionError(f"{text!r} vanished from the page")


async def say(page: Page, text: str, expect: str) -> str:
    """Type `text`, send it, and wait for a bot bubble showing `expect`."""
    since = await bot_count(page)
    await page.fill("#text", text)
    await page.press("#text", "Enter")
    return await wait_bot(page, since, expect)


async def click(page: Page, title: str, expect: str) -> str:
    """Click the newest list row / reply button titled `title`; wait for `expect`."""
    since = await bot_count(page)
    option = page.locator("#log .msg.bot .option").filter(has_text=re.compile("^" + re.escape(title)))
    await option.last.click()
    return await wait_bot(page, since, expect)


async def visible_chat(page: Page) -> str:
    return str(await page.locator("#log").inner_text())


async def booked(live: Live, code: str) -> bm.Appointment:
    async with live.db() as s:
        appt = await s.scalar(select(bm.Appointment).where(bm.Appointment.code == code))
    assert appt is not None, f"{code} shown in the chat but not in the database"
    return appt


async def whatsapp_to_confirmation(page: Page, live: Live, phone: str, visit: str) -> str:
    """First contact on WhatsApp up to the booking summary's Confirm; returns what Confirm brought."""
    await start_chat(page, live.url, "whatsapp", phone)
    await say(page, "hi", "Which language do you prefer?")
    await click(page, "English", "Is that OK?")
    await click(page, "OK", "How can I help you?")
    await click(page, "Book appointment", "Which doctor or specialty?")
    await say(page, "dr mehta", "What kind of visit?")
    await click(page, visit, "When would you like to come?")
    await click(page, "First free time", "The next free times")
    # The first offered time (which one depends on today's date and the clinic's hours).
    since = await bot_count(page)
    await page.locator("#log .msg.bot").filter(has_text="The next free times").last.locator(".option").first.click()
    await wait_bot(page, since, "Who is the appointment for?")
    await click(page, "Me", "What is your full name")
    summary = await say(page, "Asha Verma", "Please check your booking")
    assert "Dr. Asha Mehta" in summary and "Patient: Asha Verma" in summary
    expect = "Booked!" if visit == "Consultation" else "Please pay"
    return await click(page, "Confirm", expect)


async def test_whatsapp_first_contact_books_free_visit(live: Live, page: Page, tmp_path: Path) -> None:
    confirmation = await whatsapp_to_confirmation(page, live, "+919800000201", "Consultation")
    [code] = CODE.findall(confirmation)
    assert "Dr. Asha Mehta" in confirmation
    assert (await booked(live, code)).status == AppointmentStatus.CONFIRMED

    # The clinic's map pin follows the confirmation.
    await page.wait_for_function(_BOT_SAID, arg=[0, "MyMedic Indiranagar 100 Feet Road"])
    shot = tmp_path / "whatsapp_booked.png"
    await page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 0
    chat = await visible_chat(page)
    for seen in ("Welcome to MyMedic", "Thank you!", "Dr. Asha Mehta it is.", f"Your booking code is {code}"):
        assert seen in chat
    # Every message the page sent reached the webhook and was accepted.
    assert await page.locator("#log .msg.me.error").count() == 0


async def test_sms_numbers_book_free_visit(live: Live, page: Page, tmp_path: Path) -> None:
    await start_chat(page, live.url, "sms", "+919800000202")
    await say(page, "hi", "Which language do you prefer?\n1 English")
    await say(page, "1", "Is that OK?\n1 OK")
    await say(page, "1", "How can I help you?\n1 Book appointment")
    await say(page, "1", "Which doctor or specialty?")
    await say(page, "dr mehta", "What kind of visit?\n1 Consultation")
    await say(page, "1", "When would you like to come?")
    await say(page, "1", "The next free times")
    await say(page, "1", "Who is the appointment for?\n1 Me")
    await say(page, "1", "What is your full name")
    summary = await say(page, "Ravi Kumar", "Please check your booking")
    assert "Patient: Ravi Kumar" in summary and "\n1 Confirm" in summary
    confirmation = await say(page, "1", "Booked!")
    [code] = CODE.findall(confirmation)
    assert (await booked(live, code)).status == AppointmentStatus.CONFIRMED

    await page.screenshot(path=str(tmp_path / "sms_booked.png"), full_page=True)
    assert (tmp_path / "sms_booked.png").stat().st_size > 0
    # SMS shows numbered text with its segment count, nothing to click.
    assert await page.locator("#log .option").count() == 0
    assert "segment(s)" in confirmation
    assert f"Your booking code is {code}" in await visible_chat(page)


async def test_whatsapp_prepaid_booking_paid_in_browser(live: Live, page: Page, tmp_path: Path) -> None:
    held = await whatsapp_to_confirmation(page, live, "+919800000203", "New patient consultation")
    [code] = CODE.findall(held)
    assert (await booked(live, code)).status == AppointmentStatus.PENDING_PAYMENT

    # The payment link arrives as a clickable link; it opens the sandbox pay page in a new tab.
    link = page.locator("#log .msg.bot", has_text=f"for booking {code}").locator("a[href*='/sandbox/pay/']")
    await link.wait_for()
    since = await bot_count(page)
    async with page.context.expect_page() as opened:
        await link.click()
    pay_page = await opened.value
    await pay_page.wait_for_load_state()
    assert "Amount due: 200.00 INR" in await pay_page.locator("body").inner_text()
    await pay_page.get_by_role("button", name=re.compile("^Pay ")).click()
    await pay_page.wait_for_selector("text=Your booking is confirmed")
    await pay_page.screenshot(path=str(tmp_path / "paid.png"))

    # Back in the chat: the receipt (an approved template) arrives and names the booking.
    receipt = await wait_bot(page, since, "we have received your payment")
    assert code in receipt and "is confirmed" in receipt
    assert (await booked(live, code)).status == AppointmentStatus.CONFIRMED
    await page.screenshot(path=str(tmp_path / "whatsapp_paid.png"), full_page=True)
    assert (tmp_path / "whatsapp_paid.png").stat().st_size > 0
