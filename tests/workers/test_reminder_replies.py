"""Replies to reminders, days later with no open conversation: SMS 1/2/3, the WhatsApp
button, a phone shared by dependents (asks which), and nonsense (the staff list)."""

from __future__ import annotations

from sqlalchemy import select

from bot.booking.types import AppointmentStatus
from bot.messages import Choices, Text
from workers.models import AttendanceConfirmation, StaffAction
from workers.reminders import handle_reminder_reply
from worker_helpers import book, ist, tick

PHONE = "+919845012345"


async def remind(ctx, clock, moment):  # type: ignore[no-untyped-def]
    await tick(ctx)
    clock.set(moment)
    await tick(ctx)


async def reply(booking, db, clinic, clock, text, *, channel="sms", user=PHONE, context=None):  # type: ignore[no-untyped-def]
    return await handle_reminder_reply(booking, db, org_id=clinic.org_id, channel=channel, user_id=user,
                                       text_or_choice=text, context_message_id=context, now=clock.now)


async def test_sms_1_confirms_2_reschedules_3_cancels(ctx, db, booking, clinic, clock):
    patient = await booking.find_or_create_patient(clinic.org_id, phone="98450 12345", name="Priya Sharma")
    appt = await book(booking, clinic, patient.id, ist(4, 10))
    await remind(ctx, clock, ist(3, 10))
    clock.advance(hours=5)   # hours later, no conversation open

    confirmed = await reply(booking, db, clinic, clock, "1")
    assert (confirmed.handled, confirmed.action, confirmed.appointment_id) == (True, "confirm", appt.id)
    assert isinstance(confirmed.replies[0], Text)
    async with db() as s:
        assert await s.get(AttendanceConfirmation, appt.id) is not None

    moving = await reply(booking, db, clinic, clock, "2")
    assert (moving.action, moving.start_flow, moving.appointment_id) == ("reschedule", "reschedule", appt.id)

    cancelled = await reply(booking, db, clinic, clock, "3")
    assert (cancelled.action, cancelled.appointment_id) == ("cancel", appt.id)
    assert (await booking.get_appointment(appt.id)).status == AppointmentStatus.CANCELLED
    # Nothing reminded is left: a later "1" is an ordinary message for the dispatcher.
    assert (await reply(booking, db, clinic, clock, "1")).handled is False


async def test_whatsapp_button_reaches_its_appointment(ctx, db, booking, clinic, clock):
    user = "919800000011"
    patient = await booking.find_or_create_patient(clinic.org_id, whatsapp_id=user, name="Ravi Kumar")
    first = await book(booking, clinic, patient.id, ist(4, 10), channel="whatsapp")
    second = await book(booking, clinic, patient.id, ist(4, 15), channel="whatsapp")
    await remind(ctx, clock, ist(3, 15))
    clock.advance(days=0, hours=3)
    result = await reply(booking, db, clinic, clock, f"appointment_reminder:cancel:{first.code}",
                         channel="whatsapp", user=user)
    assert (result.action, result.appointment_id) == ("cancel", first.id)
    assert (await booking.get_appointment(first.id)).status == AppointmentStatus.CANCELLED
    assert (await booking.get_appointment(second.id)).status == AppointmentStatus.CONFIRMED
    # Someone else's address cannot act on the booking with its code.
    other = await reply(booking, db, clinic, clock, f"appointment_reminder:cancel:{second.code}",
                        channel="whatsapp", user="919800000099")
    assert other.handled is False


async def test_shared_phone_with_dependents_asks_which(ctx, db, booking, clinic, clock):
    holder = await booking.find_or_create_patient(clinic.org_id, phone="98450 12345", name="Priya Sharma")
    child = await booking.add_dependent(holder.id, name="Anu Sharma", relation="child")
    mine = await book(booking, clinic, holder.id, ist(4, 10))
    hers = await book(booking, clinic, child.id, ist(4, 11))
    await remind(ctx, clock, ist(3, 11))

    asked = await reply(booking, db, clinic, clock, "1")
    assert asked.action == "ask"
    [menu] = asked.replies
    assert isinstance(menu, Choices)
    assert [o.title for o in menu.options] == ["Priya", "Anu"]
    picked = await reply(booking, db, clinic, clock, "2")
    assert (picked.action, picked.appointment_id) == ("confirm", hers.id)
    async with db() as s:
        assert await s.get(AttendanceConfirmation, hers.id) is not None
        assert await s.get(AttendanceConfirmation, mine.id) is None


async def test_nonsense_goes_to_the_staff_list(ctx, db, booking, clinic, clock):
    patient = await booking.find_or_create_patient(clinic.org_id, phone="98450 12345", name="Priya Sharma")
    appt = await book(booking, clinic, patient.id, ist(4, 10))
    await remind(ctx, clock, ist(3, 10))
    result = await reply(booking, db, clinic, clock, "maybe?")
    assert (result.handled, result.action) == (True, "to_action")
    async with db() as s:
        [item] = (await s.scalars(select(StaffAction))).all()
    assert (item.kind, item.appointment_id, item.text, item.user_id) == ("reminder_reply_unclear", appt.id, "maybe?", PHONE)
    # A long message is a conversation, not an answer: left to the dispatcher.
    long = await reply(booking, db, clinic, clock, "hello, can I also book for my mother next week?")
    assert long.handled is False
