"""Golden transcripts: `run_turn` driven turn by turn over the real BookingService
(SQLite or PostgreSQL), rendered as WhatsApp widgets or SMS numbered menus.

Run with UPDATE_GOLDEN=1 to rewrite tests/flows/golden/*.txt after a deliberate change,
then read the diff."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from bot.booking.service import BookingService
from bot.booking.types import AppointmentStatus
from bot.messages import Channel, Handoff, Location, PaymentRequest
from flows_transcript import Chat, Clinic, Clock, check_golden

NewChat = Callable[..., Chat]


async def onboard(chat: Chat) -> None:
    await chat.say("hi")
    await chat.tap("English")
    await chat.tap("OK")


async def test_first_contact_and_booking_whatsapp(new_chat: NewChat, service: BookingService, clinic: Clinic) -> None:
    chat = new_chat()
    await onboard(chat)
    assert chat.titles()[:2] == ["Book appointment", "My appointments"]
    await chat.tap("Book appointment")
    await chat.say("skin doc")
    await chat.tap("Tomorrow")
    assert "More times…" == chat.titles()[-1] and len(chat.titles()) == 10
    await chat.tap("More times…")
    await chat.tap("6:30 pm")
    await chat.tap("Me")
    await chat.say("asha verma")
    await chat.tap("Confirm")
    kinds = [type(r) for r in chat.last.replies]
    assert Location in kinds
    await chat.tap("Yes, tell me")
    check_golden("book_whatsapp", chat.text())

    patient = await service.find_or_create_patient(clinic.org_id, whatsapp_id="wa-asha")
    assert patient.name == "Asha Verma" and patient.language == "en"
    assert await service.has_consent(patient.id, channel="whatsapp", purpose="service") is True
    [appt] = await service.appointments_for(patient.id)
    assert appt.status is AppointmentStatus.CONFIRMED and appt.doctor_id == clinic.mehta
    assert appt.code in "\n".join(chat.lines)
    [entry] = await service.waitlist_for(patient.id)
    assert entry.appointment_id == appt.id and entry.status == "active"


async def test_booking_with_prepay_for_new_dependent_sms(new_chat: NewChat, service: BookingService,
                                                         clinic: Clinic) -> None:
    chat = new_chat(Channel.SMS)
    await onboard(chat)
    await chat.tap("Book appointment")
    await chat.say("my baby has fever")
    await chat.say("friday evening")
    await chat.tap_nth(1)
    await chat.tap("Someone new")
    await chat.say("Rohan Verma")
    await chat.tap("Child")
    await chat.tap("Confirm")
    payment = [r for r in chat.last.replies if isinstance(r, PaymentRequest)]
    assert payment and payment[0].amount_minor == 20000
    await chat.tap("No, thanks")
    chat.note("a second booking for the same child")
    await chat.say("menu")
    await chat.tap("Book appointment")
    await chat.say("pediatrics")
    await chat.say("next week")
    await chat.tap_nth(1)
    await chat.tap("Family member")
    await chat.tap("Rohan Verma")
    await chat.tap("Main menu")
    await chat.tap("My appointments")
    check_golden("book_prepay_dependent_sms", chat.text())

    holder = await service.find_or_create_patient(clinic.org_id, phone="+919820000001")
    [appt] = await service.appointments_for(holder.id)
    assert appt.status is AppointmentStatus.PENDING_PAYMENT and appt.patient_name == "Rohan Verma"
    [dep] = await service.dependents(holder.id)
    assert dep.relation == "child"


async def test_doctor_by_name_location_and_visit_type(new_chat: NewChat, service: BookingService,
                                                      clinic: Clinic) -> None:
    chat = new_chat()
    await onboard(chat)
    await chat.tap("Book appointment")
    await chat.share_location(19.12, 72.84)     # near Andheri
    await chat.say("dr kumar")
    await chat.tap("Video consult")
    await chat.say("tomorrow after 5")
    await chat.tap("5:00 pm")
    await chat.tap("Me")
    await chat.say("Asha Verma")
    await chat.tap("Confirm")
    await chat.tap("No, thanks")
    check_golden("book_doctor_by_name_tele", chat.text())
    holder = await service.find_or_create_patient(clinic.org_id, whatsapp_id="wa-asha")
    [appt] = await service.appointments_for(holder.id)
    assert appt.doctor_id == clinic.kumar and appt.mode.value == "tele"


async def test_area_name_picks_nearest_branch_and_unknown_doctor(new_chat: NewChat) -> None:
    chat = new_chat()
    await onboard(chat)
    await chat.tap("Book appointment")
    await chat.say("dr zebulon")
    await chat.say("andheri")
    await chat.say("chennai")
    await chat.tap("Pediatrics")
    check_golden("unknown_doctor_and_area", chat.text())


async def test_slot_taken_meanwhile_offers_next_three(new_chat: NewChat, service: BookingService,
                                                      clinic: Clinic) -> None:
    chat = new_chat()
    await onboard(chat)
    await chat.tap("Book appointment")
    await chat.say("dermatology")
    await chat.tap("Tomorrow")
    await chat.tap("9:00 am")
    chat.note("another patient books Tue 9:00 AM with Dr. Mehta")
    other = await service.find_or_create_patient(clinic.org_id, phone="+919820000099", name="Other")
    nine = dt.datetime(2026, 12, 8, 3, 30, tzinfo=dt.timezone.utc)   # Tue 9:00 in Mumbai
    taken = await service.hold(clinic.org_id, patient_id=other.id, doctor_id=clinic.mehta,
                               branch_id=clinic.andheri, appointment_type_id=(await service.appointment_types(
                                   clinic.org_id, clinic.mehta))[0].id, start=nine)
    await service.confirm(taken.id)
    await chat.tap("Me")
    await chat.say("Asha Verma")
    assert len(chat.titles()) == 4 and chat.titles()[-1] == "Another day"
    await chat.tap_nth(1)
    await chat.tap("Confirm")
    check_golden("slot_taken", chat.text())
    me = await service.find_or_create_patient(clinic.org_id, whatsapp_id="wa-asha")
    [appt] = await service.appointments_for(me.id)
    assert appt.start > nine and appt.status is AppointmentStatus.CONFIRMED


async def test_hold_expired_is_retaken_kindly(new_chat: NewChat, service: BookingService, clinic: Clinic,
                                              clock: Clock) -> None:
    chat = new_chat(Channel.SMS)
    await onboard(chat)
    await chat.tap("Book appointment")
    await chat.say("dr mehta")
    await chat.say("12 dec")
    await chat.tap("10:00 am")
    await chat.tap("Me")
    await chat.say("Asha Verma")
    chat.note("25 minutes pass: the hold lapses")
    clock.advance(minutes=25)
    await chat.tap("Confirm")
    check_golden("hold_expired_sms", chat.text())
    me = await service.find_or_create_patient(clinic.org_id, phone="+919820000001")
    [appt] = await service.appointments_for(me.id)
    assert appt.status is AppointmentStatus.CONFIRMED


async def test_hold_expired_and_slot_gone(new_chat: NewChat, service: BookingService, clinic: Clinic,
                                          clock: Clock) -> None:
    chat = new_chat()
    await onboard(chat)
    await chat.tap("Book appointment")
    await chat.say("dr mehta")
    await chat.say("12 dec")
    await chat.tap("10:00 am")
    await chat.tap("Me")
    await chat.say("Asha Verma")
    chat.note("the hold lapses and someone else takes 10:00")
    clock.advance(minutes=25)
    await service.release_expired_holds()
    other = await service.find_or_create_patient(clinic.org_id, phone="+919820000099")
    start = dt.datetime(2026, 12, 12, 4, 30, tzinfo=dt.timezone.utc)
    types = await service.appointment_types(clinic.org_id, clinic.mehta)
    await service.hold(clinic.org_id, patient_id=other.id, doctor_id=clinic.mehta, branch_id=clinic.andheri,
                       appointment_type_id=types[0].id, start=start)
    await chat.tap("Confirm")
    assert chat.titles()[-1] == "Another day"
    check_golden("hold_expired_slot_gone", chat.text())


async def test_nonsense_three_times_offers_a_human(new_chat: NewChat) -> None:
    chat = new_chat(Channel.SMS)
    await onboard(chat)
    await chat.tap("Book appointment")
    await chat.say("dermatology")
    await chat.say("purple")
    await chat.say("qwerty")
    await chat.say("asdf")
    assert chat.titles() == ["Talk to a person", "Main menu"]
    await chat.tap("Talk to a person")
    assert isinstance(chat.last.handoff, Handoff) and chat.last.replies[-1] is chat.last.handoff
    check_golden("nonsense_to_human_sms", chat.text())


async def test_state_lost_mid_flow_restarts_knowing_the_patient(new_chat: NewChat, service: BookingService,
                                                                clinic: Clinic) -> None:
    chat = new_chat()
    await onboard(chat)
    await chat.tap("Book appointment")
    await chat.say("skin")
    await chat.tap("Tomorrow")
    await chat.tap("9:30 am")
    await chat.tap("Me")
    await chat.say("Asha Verma")
    await chat.tap("Confirm")
    await chat.tap("No, thanks")
    await chat.say("menu")
    await chat.tap("Book appointment")
    chat.note("Redis loses the conversation state")
    chat.state = None
    await chat.say("friday")
    assert chat.titles()[1] == "My appointments"
    await chat.tap("My appointments")
    check_golden("state_lost", chat.text())


async def test_my_appointments_reschedule_cancel_and_asap(new_chat: NewChat, service: BookingService,
                                                          clinic: Clinic) -> None:
    chat = new_chat()
    await onboard(chat)
    await chat.tap("Book appointment")
    await chat.say("dermatology")
    await chat.tap("Tomorrow")
    await chat.tap("9:30 am")
    await chat.tap("Me")
    await chat.say("Asha Verma")
    await chat.tap("Confirm")
    await chat.tap("No, thanks")
    me = await service.find_or_create_patient(clinic.org_id, whatsapp_id="wa-asha")
    [before] = await service.appointments_for(me.id)
    chat.note("reschedule")
    await chat.say("menu")
    await chat.tap("My appointments")
    await chat.tap_nth(1)
    await chat.tap("Change time")
    await chat.say("wednesday morning")
    await chat.tap("11:00 am")
    await chat.tap("Yes, move it")
    [after] = await service.appointments_for(me.id)
    assert after.id == before.id and after.code == before.code and after.start != before.start
    chat.note("join and leave the early-time list")
    await chat.say("menu")
    await chat.tap("My appointments")
    await chat.tap_nth(1)
    await chat.tap("Earlier time alert")
    await chat.say("menu")
    await chat.tap("My appointments")
    await chat.tap_nth(1)
    await chat.tap("Leave early list")
    assert await service.waitlist_for(me.id) == []
    chat.note("cancel: asked first, kept, then cancelled")
    await chat.say("menu")
    await chat.tap("My appointments")
    await chat.tap_nth(1)
    await chat.tap("Cancel visit")
    await chat.tap("No, keep it")
    await chat.say("menu")
    await chat.tap("My appointments")
    await chat.tap_nth(1)
    await chat.tap("Cancel visit")
    await chat.tap("Yes, cancel it")
    check_golden("manage_whatsapp", chat.text())
    assert (await service.get_appointment(before.id)).status is AppointmentStatus.CANCELLED


async def test_cancel_inside_policy_window_sms(new_chat: NewChat, service: BookingService, clinic: Clinic,
                                               clock: Clock) -> None:
    chat = new_chat(Channel.SMS)
    await onboard(chat)
    await chat.tap("Book appointment")
    await chat.say("dermatology")
    await chat.tap("Today")
    await chat.tap("11:00 am")
    await chat.tap("Me")
    await chat.say("Asha Verma")
    await chat.tap("Confirm")
    await chat.tap("No, thanks")
    chat.note("it is now 10:00, an hour before the visit")
    clock.advance(hours=1, minutes=30)
    await chat.say("menu")
    await chat.tap("My appointments")
    await chat.tap_nth(1)
    # SMS shows numbers: the patient sends "2", never the carrier word CANCEL.
    assert chat.titles()[1] == "Cancel visit"
    await chat.tap("Cancel visit")
    await chat.tap("Yes, cancel it")
    assert chat.titles() == ["Talk to a person", "Main menu"]
    chat.note("a later attempt to move it is refused the same way")
    await chat.tap("Main menu")
    await chat.tap("My appointments")
    await chat.tap_nth(1)
    await chat.tap("Change time")
    await chat.tap("Today")
    await chat.tap_nth(1)
    await chat.tap("Yes, move it")
    check_golden("policy_window_sms", chat.text())
    me = await service.find_or_create_patient(clinic.org_id, phone="+919820000001")
    [appt] = await service.appointments_for(me.id)
    assert appt.status is AppointmentStatus.CONFIRMED


async def test_global_commands_from_deep_states(new_chat: NewChat, service: BookingService, clinic: Clinic) -> None:
    chat = new_chat()
    await onboard(chat)
    await chat.tap("Book appointment")
    await chat.say("dermatology")
    await chat.tap("Tomorrow")
    await chat.say("help")
    await chat.say("back")
    await chat.say("back")
    await chat.say("मेनू")
    await chat.tap("Book appointment")
    await chat.say("skin")
    await chat.say("language")
    await chat.tap("हिन्दी")
    await chat.say("stop")
    await chat.say("start")
    await chat.say("agent")
    check_golden("global_commands_whatsapp", chat.text())
    me = await service.find_or_create_patient(clinic.org_id, whatsapp_id="wa-asha")
    assert me.language == "hi"
    assert await service.has_consent(me.id, channel="whatsapp", purpose="service") is True


async def test_sms_carrier_opt_out_words(new_chat: NewChat, service: BookingService, clinic: Clinic) -> None:
    chat = new_chat(Channel.SMS)
    await onboard(chat)
    await chat.tap("Book appointment")
    out = await chat.say("CANCEL")
    assert out.opted_out is True and out.replies == []
    back = await chat.say("START")
    assert back.opted_out is False
    check_golden("sms_opt_out", chat.text())
    me = await service.find_or_create_patient(clinic.org_id, phone="+919820000001")
    assert await service.has_consent(me.id, channel="sms", purpose="service") is True


async def test_media_gets_a_hint_and_old_sessions_resume(new_chat: NewChat) -> None:
    from bot.messages import InboundKind

    chat = new_chat()
    await onboard(chat)
    await chat._turn("(sticker)", kind=InboundKind.MEDIA, media_type="sticker")
    await chat._turn("(reaction 👍)", kind=InboundKind.REACTION, reaction="👍")
    assert chat.last.replies == []
    check_golden("media_hint", chat.text())


async def test_every_title_fits_whatsapp_limits(new_chat: NewChat) -> None:
    """List rows ≤ 24 chars, buttons ≤ 20, across a whole booking."""
    from bot.messages import Buttons, Choices

    chat = new_chat()
    seen = []
    for step in (chat.say("hi"), ):
        await step
    seen += chat.last.replies
    await chat.tap("English"); seen += chat.last.replies
    await chat.tap("OK"); seen += chat.last.replies
    await chat.tap("Book appointment"); seen += chat.last.replies
    await chat.say("cardiology"); seen += chat.last.replies
    await chat.tap("Heart check-up"); seen += chat.last.replies
    await chat.tap("Tomorrow"); seen += chat.last.replies
    await chat.tap_nth(1); seen += chat.last.replies
    await chat.tap("Family member"); seen += chat.last.replies
    await chat.say("Meera"); seen += chat.last.replies
    await chat.tap("Parent"); seen += chat.last.replies
    for reply in seen:
        if isinstance(reply, Choices):
            assert all(len(o.title) <= 24 for o in reply.options), reply
        if isinstance(reply, Buttons):
            assert all(len(o.title) <= 20 for o in reply.options), reply


async def test_two_patients_race_for_one_slot(new_chat: NewChat, service: BookingService, clinic: Clinic) -> None:
    """Both pick Tue 9:00; the first to reach the summary holds it, the other is offered the next."""
    asha = new_chat(Channel.WHATSAPP, user="wa-asha", phone="+919820000001")
    ravi = new_chat(Channel.SMS, phone="+919820000002")
    for chat in (asha, ravi):
        await onboard(chat)
        await chat.tap("Book appointment")
        await chat.say("dr mehta")
        await chat.tap("Tomorrow")
        await chat.tap("9:00 am")
        await chat.tap("Me")
    await asha.say("Asha Verma")
    await ravi.say("Ravi Shah")
    assert asha.titles()[0] == "Confirm"
    assert ravi.titles()[-1] == "Another day" and "9:00 am" not in ravi.titles()[0]
    await asha.tap("Confirm")
    await ravi.tap_nth(1)
    await ravi.tap("Confirm")
    check_golden("race_loser_sms", ravi.text())
    a = await service.find_or_create_patient(clinic.org_id, whatsapp_id="wa-asha")
    r = await service.find_or_create_patient(clinic.org_id, phone="+919820000002")
    [mine], [theirs] = await service.appointments_for(a.id), await service.appointments_for(r.id)
    assert mine.start == dt.datetime(2026, 12, 8, 3, 30, tzinfo=dt.timezone.utc)
    assert theirs.start > mine.start and theirs.status is AppointmentStatus.CONFIRMED


async def test_session_expired_restarts_politely(new_chat: NewChat, clock: Clock) -> None:
    """A finished conversation whose state expired: a known patient is welcomed back, with
    nothing upcoming; a message that is a command still works straight away."""
    chat = new_chat(Channel.SMS)
    await onboard(chat)
    chat.note("two days later the session has expired")
    clock.advance(days=2)
    chat.state = None
    await chat.say("hello?")
    await chat.tap("My appointments")
    chat.state = None
    await chat.say("human")
    assert chat.last.handoff is not None
    check_golden("session_expired_sms", chat.text())


async def test_hindi_and_tamil_words_drive_a_booking(new_chat: NewChat, service: BookingService,
                                                     clinic: Clinic) -> None:
    chat = new_chat(Channel.SMS)
    await chat.say("नमस्ते")
    await chat.say("हिंदी")
    await chat.say("हाँ")
    await chat.say("१")                  # Devanagari digit: option 1, Book appointment
    await chat.say("त्वचा")              # skin
    await chat.say("कल शाम")             # tomorrow evening
    await chat.say("१")
    await chat.say("१")                  # me
    await chat.say("Asha Verma")
    await chat.say("हाँ")                # confirm
    check_golden("hindi_words_sms", chat.text())
    me = await service.find_or_create_patient(clinic.org_id, phone="+919820000001")
    assert me.language == "hi"
    [appt] = await service.appointments_for(me.id)
    assert appt.start == dt.datetime(2026, 12, 8, 11, 30, tzinfo=dt.timezone.utc)   # Tue 17:00 IST


async def test_tamil_words(new_chat: NewChat) -> None:
    chat = new_chat()
    await chat.say("வணக்கம்")
    await chat.say("தமிழ்")
    await chat.say("சரி")
    await chat.say("௧")
    await chat.say("தோல்")
    await chat.say("நாளை காலை")
    assert chat.titles()[0] == chat.last.replies[-1].options[0].title   # a slot list
    assert len(chat.titles()) == 6                                      # six morning slots


async def test_stale_button_is_not_taken_for_this_question(new_chat: NewChat, service: BookingService,
                                                           clinic: Clinic) -> None:
    from bot.messages import InboundKind

    chat = new_chat()
    await onboard(chat)
    await chat.tap("Book appointment")
    await chat.say("dermatology")
    await chat.tap("Tomorrow")
    await chat.tap("9:30 am")
    await chat.tap("Me")
    await chat.say("Asha Verma")
    stale_confirm = next(o for o in chat.last.replies[-1].options if o.title == "Confirm")
    await chat.tap("Confirm")
    await chat.tap("No, thanks")
    await chat.say("menu")
    await chat.tap("My appointments")
    await chat.tap_nth(1)
    await chat.tap("Cancel visit")
    # The patient scrolls up and taps the old "Confirm" of the booking summary.
    await chat._turn("[old Confirm]", kind=InboundKind.CHOICE, choice_id=stale_confirm.id, choice_title="Confirm")
    assert chat.titles() == ["Yes, cancel it", "No, keep it"]
    me = await service.find_or_create_patient(clinic.org_id, whatsapp_id="wa-asha")
    [appt] = await service.appointments_for(me.id)
    assert appt.status is AppointmentStatus.CONFIRMED


async def test_unusable_saved_state_restarts_and_vanished_records_are_explained(
        new_chat: NewChat, service: BookingService, clinic: Clinic) -> None:
    chat = new_chat()
    await onboard(chat)
    patient_id = chat.state["patient_id"]
    chat.state = {"v": 1, "lang": "en", "patient_id": patient_id, "flow": "renamed_flow", "state": "x"}
    await chat.say("2")
    assert chat.lines[chat.lines.index(">>> 2") + 1].startswith("Welcome back")
    chat.state = {"v": 1, "lang": "en", "patient_id": patient_id, "flow": "appointments", "state": "manage",
                  "data": {"appointment_id": 999}, "options": [["appointments.manage|reschedule", "Change time"]]}
    await chat.say("1")
    assert chat.last.replies[0].body == "Sorry, that didn't work — something changed in the meantime."
    assert chat.titles()[0] == "Book appointment"
