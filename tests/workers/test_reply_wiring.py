"""Replies to reminders, ASAP offers and "pick a new time" messages through the LIVE
inbound path: signed webhooks to the real app, the dispatcher, `handle_reminder_reply`,
outbound rows, and a real arq worker delivering to the sandbox emulators.

The app's booking core and dispatcher read the test's hand-moved clock; reminders and
offers are produced by the worker's own sweeps (`tick`) at that clock's time.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from sqlalchemy import select

from bot.booking import models as bm
from bot.booking.service import BookingService
from bot.booking.types import Actor, AppointmentStatus
from bot.config import Settings
from bot.messages import Channel, Inbound, InboundKind
from bot.outbox.models import InboundMessage, OutboundMessage
from bot.sandbox.patient import SandboxPatient
from live_app import running_app
from worker_helpers import Clinic, Clock, book, build_clinic, ist, tick
from workers.models import AttendanceConfirmation, StaffAction
from workers.reply_wiring import may_answer_reminder


@dataclasses.dataclass
class Live:
    settings: Settings
    base: str
    http: aiohttp.ClientSession
    ctx: dict[str, Any]
    clinic: Clinic
    clock: Clock

    @property
    def booking(self) -> BookingService:
        return self.ctx["booking"]  # type: ignore[no-any-return]

    def patient(self, channel: str, phone: str) -> SandboxPatient:
        return SandboxPatient(self.base, self.settings, channel, phone, session=self.http)


@pytest.fixture
async def live(settings: Settings, db: Any, redis: Any) -> AsyncIterator[Live]:
    """The app on a real port (dispatcher and booking core on the test clock) and a
    running arq worker in this loop, built from the same clock."""
    clock = Clock()
    clinic = await build_clinic(db)
    async with db() as s, s.begin():
        # The webhooks name our numbers; the dispatcher finds the clinic by them.
        s.add_all([bm.ChannelAccount(org_id=clinic.org_id, channel="whatsapp", address=settings.whatsapp_phone_id),
                   bm.ChannelAccount(org_id=clinic.org_id, channel="sms", address=settings.twilio_from)])
    async with running_app(settings, clock=clock, worker_clock=clock) as (app_settings, ctx), \
            aiohttp.ClientSession() as http:
        yield Live(app_settings, app_settings.public_url, http, ctx, clinic, clock)


async def remind(live: Live, moment: Any) -> None:
    """Let the worker send the reminders owed at `moment` (delivered to the emulators)."""
    await tick(live.ctx, deliver=True)
    live.clock.set(moment)
    await tick(live.ctx, deliver=True)


def texts(replies: list[dict[str, Any]]) -> str:
    return "\n".join(r["view"].get("text") or "" for r in replies)


def quick_replies(template: dict[str, Any]) -> list[str]:
    """The payloads of a sent template's quick-reply buttons."""
    return [p["payload"] for c in template["view"]["components"] if c["type"] == "button"
            for p in c["parameters"] if p["type"] == "payload"]


async def tap_template_button(patient: SandboxPatient, template: dict[str, Any], action: str,
                              title: str) -> list[dict[str, Any]]:
    """A quick-reply tap on a template, as Meta sends it (`type: button` with the payload)."""
    [payload] = [p for p in quick_replies(template) if f":{action}:" in p]
    message = {"type": "button", "button": {"payload": payload, "text": title}}
    return await patient._send_whatsapp(message, wait=True, context_id=template.get("id"))  # noqa: SLF001


async def inbound_ids(db: Any) -> dict[str, int]:
    async with db() as s:
        return {m: i for i, m in (await s.execute(select(InboundMessage.id, InboundMessage.provider_message_id)))}


async def test_whatsapp_reminder_confirm_tap(live: Live, db: Any) -> None:
    wa_id = "919800000011"
    holder = await live.booking.find_or_create_patient(live.clinic.org_id, whatsapp_id=wa_id, phone="+" + wa_id,
                                                       name="Ravi Kumar")
    appt = await book(live.booking, live.clinic, holder.id, ist(4, 10), channel="whatsapp")
    patient = live.patient("whatsapp", "+" + wa_id)
    await patient.register()
    await remind(live, ist(3, 10))
    [template] = await patient.wait_for_replies()
    assert f"appointment_reminder:confirm:{appt.code}" in quick_replies(template)
    live.clock.advance(hours=5)

    replies = await tap_template_button(patient, template, "confirm", "Confirm")
    assert "See you on" in texts(replies)
    async with db() as s:
        assert (await s.get(AttendanceConfirmation, appt.id)) is not None
        # The reply is an outbound row keyed by the inbound id, answering that inbound.
        rows = list(await s.scalars(select(OutboundMessage).where(OutboundMessage.purpose == "reply")))
    assert len(rows) == 1 and rows[0].idempotency_key.startswith("in:whatsapp:")
    assert rows[0].in_reply_to in await inbound_ids(db)


async def test_sms_3_cancels_and_nonsense_goes_to_staff(live: Live, db: Any) -> None:
    phone = "+919845012345"
    holder = await live.booking.find_or_create_patient(live.clinic.org_id, phone=phone, name="Priya Sharma")
    first = await book(live.booking, live.clinic, holder.id, ist(4, 10))
    patient = live.patient("sms", phone)
    await patient.register()
    await remind(live, ist(3, 10))
    reminder = await patient.wait_for_replies()
    assert "Reply 1 to confirm" in texts(reminder)
    live.clock.advance(hours=5)

    # Nonsense, short, with no conversation open: the staff list, and the patient is told.
    told = await patient.say("maybe?")
    assert "did not understand" in texts(told)
    async with db() as s:
        [action] = list(await s.scalars(select(StaffAction)))
    assert (action.kind, action.appointment_id, action.text) == ("reminder_reply_unclear", first.id, "maybe?")
    assert (await live.booking.get_appointment(first.id)).status == AppointmentStatus.CONFIRMED

    cancelled = await patient.say("3")
    assert "is cancelled" in texts(cancelled) and first.code in texts(cancelled)
    assert (await live.booking.get_appointment(first.id)).status == AppointmentStatus.CANCELLED


async def test_sms_2_opens_reschedule_and_keeps_code(live: Live, db: Any) -> None:
    phone = "+919845012399"
    holder = await live.booking.find_or_create_patient(live.clinic.org_id, phone=phone, name="Meera Iyer",
                                                       language="en")
    appt = await book(live.booking, live.clinic, holder.id, ist(4, 10))
    patient = live.patient("sms", phone)
    await patient.register()
    await remind(live, ist(3, 10))
    await patient.wait_for_replies()
    live.clock.advance(hours=5)

    opened = await patient.say("2")
    # The reschedule conversation asks for a day straight away.
    assert "When would you like to come?" in texts(opened)
    times = await patient.choose("1")          # "First free time"
    assert "next free times" in texts(times)
    asked = await patient.choose("1")          # the first of them
    assert f"Move {appt.code}" in texts(asked)
    done = await patient.say("yes")
    moved = await live.booking.get_appointment(appt.id)
    assert moved.code == appt.code and moved.start != appt.start
    assert moved.status == AppointmentStatus.CONFIRMED
    assert f"Done! {appt.code} is now on" in texts(done)


async def test_asap_offer_accepted_by_tap_moves_booking(live: Live, db: Any) -> None:
    owner = await live.booking.find_or_create_patient(live.clinic.org_id, phone="+919845010000", name="Owner One")
    wa_id = "919800000022"
    mover = await live.booking.find_or_create_patient(live.clinic.org_id, whatsapp_id=wa_id, phone="+" + wa_id,
                                                      name="Kiran Rao")
    freed = await book(live.booking, live.clinic, owner.id, ist(3, 10))
    later = await book(live.booking, live.clinic, mover.id, ist(6, 11), channel="whatsapp")
    await live.booking.join_waitlist(live.clinic.org_id, patient_id=mover.id, doctor_id=live.clinic.doctor_id,
                                     appointment_id=later.id, channel="whatsapp")
    patient = live.patient("whatsapp", "+" + wa_id)
    await patient.register()
    live.clock.set(ist(2, 10))
    await live.booking.cancel(freed.id, reason="cannot come", actor=Actor.PATIENT)
    await tick(live.ctx, deliver=True)
    offers = await patient.wait_for_replies()
    [offer] = [m for m in offers if m["view"].get("kind") == "template"]
    live.clock.advance(minutes=5)

    taken = await tap_template_button(patient, offer, "accept", "Yes, move me")
    assert f"(booking {later.code})" in texts(taken)
    moved = await live.booking.get_appointment(later.id)
    assert (moved.start, moved.code, moved.status) == (ist(3, 10), later.code, AppointmentStatus.CONFIRMED)


def test_only_possible_replies_reach_the_reminder_lookup() -> None:
    """The pre-check that keeps ordinary turns free of the reminder queries."""
    def text(body: str, channel: Channel = Channel.SMS) -> Inbound:
        return Inbound(channel=channel, account="a", user_id="u", message_id="m", kind=InboundKind.TEXT,
                       timestamp=dt.datetime(2026, 3, 2, tzinfo=dt.timezone.utc), text=body)

    def choice(choice_id: str) -> Inbound:
        return Inbound(channel=Channel.WHATSAPP, account="a", user_id="u", message_id="m", kind=InboundKind.CHOICE,
                       timestamp=dt.datetime(2026, 3, 2, tzinfo=dt.timezone.utc), choice_id=choice_id)

    asking = {"v": 1, "flow": "book", "state": "slot", "prompt": {"kind": "text", "body": "?"}}
    idle = {"v": 1, "flow": "menu", "state": "main", "prompt": None}
    assert may_answer_reminder(text("1"), None) and may_answer_reminder(text("yes"), idle)
    assert not may_answer_reminder(text("1"), asking)                          # the open question's answer
    assert not may_answer_reminder(text("I would like to book a visit"), None)  # a conversation
    assert not may_answer_reminder(text("menu", Channel.WHATSAPP), None)         # a global command
    for ok in ("appointment_reminder:confirm:MM-1", "asap_offer:accept:OF1", "reminder_q:1:2",
               "resched_pick:3:1700000000", "resched_other:3"):
        assert may_answer_reminder(choice(ok), asking)
    assert not may_answer_reminder(choice("s:2026-03-03T10:00:00+00:00|1"), asking)


async def test_needs_rescheduling_other_times_then_pick(live: Live, db: Any) -> None:
    wa_id = "919800000033"
    holder = await live.booking.find_or_create_patient(live.clinic.org_id, whatsapp_id=wa_id, phone="+" + wa_id,
                                                       name="Asha Nair", language="en")
    appt = await book(live.booking, live.clinic, holder.id, ist(3, 10), channel="whatsapp")
    patient = live.patient("whatsapp", "+" + wa_id)
    await patient.register()
    await patient.say("hi")    # free-form messages need the 24-hour window open
    await live.booking.add_leave(live.clinic.doctor_id, ist(3, 9), ist(3, 13), reason="conference")
    await tick(live.ctx, deliver=True)
    [menu] = [m for m in await patient.wait_for_replies()
              if any(o["id"].startswith("resched_") for o in m["view"].get("options") or [])]
    ids = [o["id"] for o in menu["view"]["options"]]
    assert ids[-1] == f"resched_other:{appt.id}" and ids[0].startswith(f"resched_pick:{appt.id}:")

    # "Other times" opens the reschedule conversation for that booking.
    opened = await patient.choose(f"resched_other:{appt.id}")
    assert "When would you like to come?" in texts(opened)
    # A time from the earlier message still moves it, even with that conversation open.
    patient.last_replies = [menu]
    moved_reply = await patient.choose(ids[0])
    moved = await live.booking.get_appointment(appt.id)
    assert moved.code == appt.code and moved.start != appt.start and not moved.needs_reschedule
    assert f"(booking {appt.code})" in texts(moved_reply)


async def test_needs_rescheduling_sms_number_picks_a_time(live: Live, db: Any) -> None:
    phone = "+919845012377"
    holder = await live.booking.find_or_create_patient(live.clinic.org_id, phone=phone, name="Dev Rao",
                                                       language="en")
    appt = await book(live.booking, live.clinic, holder.id, ist(3, 10))
    patient = live.patient("sms", phone)
    await patient.register()
    await live.booking.add_leave(live.clinic.doctor_id, ist(3, 9), ist(3, 13), reason="conference")
    await tick(live.ctx, deliver=True)
    [menu] = await patient.wait_for_replies()
    first_time = menu["view"]["text"].split("\n1 ", 1)[1].split("\n", 1)[0]
    assert "Other times" in menu["view"]["text"]

    moved_reply = await patient.say("1")
    moved = await live.booking.get_appointment(appt.id)
    assert moved.code == appt.code and moved.start != appt.start and not moved.needs_reschedule
    assert first_time in texts(moved_reply) and appt.code in texts(moved_reply)
    # The list is answered: a later "1" is an ordinary message, not another pick from it.
    again = texts(await patient.say("1"))
    assert "Done:" not in again and "no longer free" not in again
