"""Golden transcripts through the real path, on WhatsApp and on SMS: signed webhooks in,
the real dispatcher, flows and booking core, the real worker sending with pywa / twilio
to the sandbox emulators, and what they received compared with tests/e2e/golden/.

Review a changed golden with `UPDATE_GOLDENS=1 pytest tests/e2e` and `git diff`.
"""

from __future__ import annotations

import asyncio
import itertools

import pytest
from sqlalchemy import select

from bot.booking import models as bm
from bot.inbox.models import HandoffMessageRow, HandoffRow
from bot.messages import Channel
from e2e_transcript import Harness, Script, check_golden

CHANNELS = pytest.mark.parametrize("channel", [Channel.WHATSAPP, Channel.SMS], ids=["whatsapp", "sms"])
_phones = itertools.count(1)


def _phone() -> str:
    return f"+91981{next(_phones):07d}"


def _name(base: str, channel: Channel) -> str:
    return f"{base}_{'wa' if channel is Channel.WHATSAPP else 'sms'}"


async def onboard(p: Script) -> None:
    """First contact: greeting, language, consent."""
    await p.say("hi")
    await p.tap("English")
    await p.tap("OK")


async def to_slot_list(p: Script, visit: str = "Consultation") -> None:
    """From the main menu to tomorrow's free times with Dr. Asha Mehta."""
    await p.tap("Book appointment")
    await p.say("dr mehta")
    await p.tap(visit)
    await p.tap("Tomorrow")


async def book_for_me(p: Script, *, time: str = "9:00 am", name: str | None = "asha verma") -> None:
    await p.tap(time)
    await p.tap("Me")
    if name:
        await p.say(name)
    await p.tap("Confirm")


async def appointments(harness: Harness) -> list[bm.Appointment]:
    async with harness.db() as s:
        return list(await s.scalars(select(bm.Appointment).order_by(bm.Appointment.id)))


@CHANNELS
async def test_first_contact_and_booking(harness: Harness, channel: Channel) -> None:
    p = harness.patient(channel, _phone())
    await onboard(p)
    await to_slot_list(p)
    await book_for_me(p)
    await p.tap("No, thanks")
    [appt] = await appointments(harness)
    assert appt.status == "confirmed"
    check_golden(_name("book_free", channel), p)


@CHANNELS
async def test_prepaid_booking_through_the_pay_page(harness: Harness, channel: Channel) -> None:
    p = harness.patient(channel, _phone())
    await onboard(p)
    await to_slot_list(p, "New patient consultation")
    await book_for_me(p)
    [appt] = await appointments(harness)
    assert appt.status == "pending_payment"
    await p.tap("No, thanks")
    await p.pay()
    [appt] = await appointments(harness)
    assert appt.status == "confirmed"
    check_golden(_name("book_prepaid", channel), p)


@CHANNELS
async def test_my_appointments_reschedule_and_cancel(harness: Harness, channel: Channel) -> None:
    p = harness.patient(channel, _phone())
    await onboard(p)
    await to_slot_list(p)
    await book_for_me(p)
    await p.tap("No, thanks")
    [booked] = await appointments(harness)

    p.note("my appointments, then move it")
    await p.say("menu")
    await p.tap("My appointments")
    await p.tap(p.last_option_titles()[0])
    await p.tap("Change time")
    await p.tap("Tomorrow")
    await p.tap("10:00 am")
    await p.tap("Yes, move it")
    [moved] = await appointments(harness)
    assert (moved.id, moved.code, moved.status) == (booked.id, booked.code, "confirmed")
    assert moved.start_at > booked.start_at

    p.note("cancel it")
    await p.say("menu")
    await p.tap("My appointments")
    await p.tap(p.last_option_titles()[0])
    await p.tap("Cancel visit")
    await p.tap("Yes, cancel it")
    [cancelled] = await appointments(harness)
    assert cancelled.status == "cancelled"
    await p.say("menu")
    await p.tap("My appointments")
    check_golden(_name("manage", channel), p)


@CHANNELS
async def test_asap_list_at_booking_and_from_my_appointments(harness: Harness, channel: Channel) -> None:
    p = harness.patient(channel, _phone())
    await onboard(p)
    await to_slot_list(p)
    await book_for_me(p, time="11:00 am")
    await p.tap("Yes, tell me")
    p.note("leave the list from my appointments")
    await p.say("menu")
    await p.tap("My appointments")
    await p.tap(p.last_option_titles()[0])
    await p.tap("Leave early list")
    async with harness.db() as s:
        statuses = list(await s.scalars(select(bm.WaitlistEntry.status)))
    assert len(statuses) == 1 and statuses[0] != "active"
    check_golden(_name("asap", channel), p)


@CHANNELS
async def test_talk_to_a_human_then_the_bot_is_silent(harness: Harness, channel: Channel) -> None:
    p = harness.patient(channel, _phone())
    await onboard(p)
    await p.say("human")
    await p.say_unanswered("hello? I need to change my name on the file")
    await p.say_unanswered("book appointment")
    assert await harness.count(HandoffRow) == 1
    assert await harness.count(HandoffMessageRow, HandoffMessageRow.direction == "in") == 2
    check_golden(_name("human", channel), p)


@CHANNELS
async def test_unknown_doctor_and_nonsense_three_times(harness: Harness, channel: Channel) -> None:
    p = harness.patient(channel, _phone())
    await onboard(p)
    await p.tap("Book appointment")
    await p.say("dr zzyzx")
    p.note("nonsense, three times in a row (after the menu reset the count)")
    await p.say("menu")
    await p.tap("Book appointment")
    await p.say("qwrtp")
    await p.say("blorf")
    await p.say("??")
    await p.tap("Talk to a person")
    assert await harness.count(HandoffRow) == 1
    check_golden(_name("unknown_and_nonsense", channel), p)


@CHANNELS
async def test_redis_state_lost_mid_flow(harness: Harness, channel: Channel) -> None:
    p = harness.patient(channel, _phone())
    await onboard(p)
    await to_slot_list(p)
    await book_for_me(p)
    await p.tap("No, thanks")
    await p.say("menu")
    await p.tap("Book appointment")
    await p.say("dr mehta")
    p.note("Redis loses the conversation state")
    assert await harness.forget_conversations() == 1
    await p.tap("Consultation")
    await p.tap("My appointments")
    check_golden(_name("state_lost", channel), p)


@CHANNELS
async def test_two_patients_race_for_one_slot(harness: Harness, channel: Channel) -> None:
    # Same profile and typed names: which of them wins is up to the race, the golden is not.
    a, b = harness.patient(channel, _phone()), harness.patient(channel, _phone())

    async def up_to_the_name(p: Script) -> None:
        await onboard(p)
        await to_slot_list(p)
        await p.tap("9:00 am")
        await p.tap("Me")

    await asyncio.gather(up_to_the_name(a), up_to_the_name(b))
    # Both send their name at once: the turn that holds the slot first wins it.
    await asyncio.gather(a.say("asha verma"), b.say("asha verma"))
    winner, loser = (a, b) if any("Please check your booking" in t for t in a.last_texts()) else (b, a)
    assert any("Please check your booking" in t for t in winner.last_texts())
    [offer] = [t for t in loser.last_texts() if "next free times" in t]
    assert "just taken" in "\n".join(loser.last_texts())
    assert len(loser.last_option_titles()) == 4   # the next 3 free times + another day
    await winner.tap("Confirm")
    await winner.tap("No, thanks")
    await loser.tap(loser.last_option_titles()[0])
    await loser.tap("Confirm")
    await loser.tap("No, thanks")
    booked = await appointments(harness)
    assert [x.status for x in booked] == ["confirmed", "confirmed"]
    assert booked[0].start_at != booked[1].start_at and booked[0].patient_id != booked[1].patient_id
    check_golden(_name("race", channel), winner, loser, titles=("the patient who got the slot",
                                                                "the patient who was offered the next"))


@CHANNELS
async def test_hold_expired_is_taken_again_at_confirm(harness: Harness, channel: Channel) -> None:
    p = harness.patient(channel, _phone())
    await onboard(p)
    await to_slot_list(p)
    await p.tap("9:00 am")
    await p.tap("Me")
    await p.say("asha verma")
    p.note("25 minutes pass before the patient confirms: the hold has lapsed")
    harness.advance(minutes=25)
    await p.tap("Confirm")
    booked = await appointments(harness)
    assert [a.status for a in booked] == ["expired", "confirmed"], [a.status for a in booked]
    assert booked[0].start_at == booked[1].start_at
    check_golden(_name("hold_expired", channel), p)


@CHANNELS
async def test_session_expired_restarts_politely(harness: Harness, channel: Channel) -> None:
    p = harness.patient(channel, _phone())
    await onboard(p)
    p.note("two days later: the conversation state has expired")
    harness.advance(days=2)
    assert await harness.forget_conversations() == 1
    await p.say("hello?")
    await p.tap("My appointments")
    assert await harness.forget_conversations() == 1
    await p.say("human")
    assert await harness.count(HandoffRow) == 1
    check_golden(_name("session_expired", channel), p)
