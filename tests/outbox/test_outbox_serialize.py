"""Every reply type survives the JSON round trip through an outbound row."""

from __future__ import annotations

import json

import pytest

from bot.messages import Buttons, Choices, Handoff, Location, Option, PaymentRequest, Template, Text
from bot.outbox.serialize import ReplyFormatError, reply_from_dict, reply_to_dict

REPLIES = [
    Text("Hello 👋 नमस्ते"),
    Choices("Pick a doctor", (Option("d1", "Dr. Mehta", "Dermatology"), Option("d2", "Dr. Rao")),
            button="Doctors", header="Doctors", footer="Reply with a number"),
    Buttons("Confirm?", (Option("yes", "Yes"), Option("no", "No")), footer="MM-7KQ2X"),
    PaymentRequest("Please pay", 50000, "INR", "PAY-1", "upi://pay?pa=clinic@upi"),
    Location(12.97, 77.59, "MyMedic Indiranagar", "100 Feet Rd, Bengaluru"),
    Handoff("A person will answer you shortly", reason="misunderstood"),
    Template("appointment_reminder", "en", {"1": "Asha", "2": "10:30"},
             components=({"type": "body", "parameters": [{"type": "text", "text": "Asha"}]},),
             fallback_text="Hi Asha, see you at 10:30"),
    Template("hello", "hi"),
]


@pytest.mark.parametrize("reply", REPLIES, ids=lambda r: type(r).__name__)
def test_round_trip_through_json(reply: object) -> None:
    stored = json.loads(json.dumps(reply_to_dict(reply)))  # what the JSON column gives back
    assert reply_from_dict(stored) == reply


def test_unknown_type_is_refused() -> None:
    with pytest.raises(ReplyFormatError):
        reply_from_dict({"type": "sticker", "body": "x"})
    with pytest.raises(ReplyFormatError):
        reply_to_dict("just a string")  # type: ignore[arg-type]
