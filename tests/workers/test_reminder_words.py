"""Reminder answers in the patient's own words: Hindi and Tamil (script and Latin
spellings) for confirm / change / cancel, besides 1/2/3 and English."""

from __future__ import annotations

import unicodedata

import pytest

from bot.booking.types import AppointmentStatus
from workers.reminders import handle_reminder_reply, parse_action
from worker_helpers import book, ist, tick

PHONE = "+919845012345"


@pytest.mark.parametrize(("text", "action"), [
    ("हाँ", "confirm"), ("हां", "confirm"), ("ठीक है।", "confirm"), ("theek hai", "confirm"),
    ("बदलें", "reschedule"), ("  बदलो ", "reschedule"), ("badlo", "reschedule"),
    ("रद्द", "cancel"), ("रद्द करें", "cancel"), ("कैंसिल", "cancel"),
    ("சரி", "confirm"), ("ஆம்", "confirm"), ("sari", "confirm"),
    ("மாற்று", "reschedule"), ("மாற்றவும்", "reschedule"), ("maatru", "reschedule"),
    ("ரத்து", "cancel"), ("ரத்து  செய்", "cancel"), ("rathu", "cancel"),
    ("1", "confirm"), ("Change", "reschedule"),
])
def test_words_map_to_actions(text: str, action: str) -> None:
    assert parse_action(text) == action


def test_decomposed_vowel_signs_still_match() -> None:
    # "हाँ" typed as separate code points (NFD) by some keyboards.
    assert parse_action(unicodedata.normalize("NFD", "हाँ")) == "confirm"
    assert parse_action("बदलाव की बात") is None   # a sentence is not an answer


@pytest.mark.parametrize(("word", "action"), [("बदलें", "reschedule"), ("ரத்து", "cancel"), ("हाँ", "confirm")])
async def test_a_reminder_answered_in_hindi_or_tamil(ctx, db, booking, clinic, clock, word, action):
    patient = await booking.find_or_create_patient(clinic.org_id, phone="98450 12345", name="Priya Sharma")
    appt = await book(booking, clinic, patient.id, ist(4, 10))
    await tick(ctx)
    clock.set(ist(3, 10))
    await tick(ctx)
    clock.advance(hours=2)
    result = await handle_reminder_reply(booking, db, org_id=clinic.org_id, channel="sms", user_id=PHONE,
                                         text_or_choice=word, now=clock.now)
    assert (result.handled, result.action, result.appointment_id) == (True, action, appt.id)
    if action == "cancel":
        assert (await booking.get_appointment(appt.id)).status == AppointmentStatus.CANCELLED
    if action == "reschedule":
        assert result.start_flow == "reschedule"
