"""Rendering: WhatsApp limits in code points, SMS menus, segments, no opt-out invitations."""

from __future__ import annotations

import pytest

from bot.channels.render_sms import GSM7, UCS2, invites_opt_out, segments, to_sms
from bot.channels.render_whatsapp import to_whatsapp
from bot.channels.text import truncate
from bot.messages import Buttons, Choices, Handoff, Location, Option, PaymentRequest, Template, Text
from bot.sandbox.graph import validate_message

HINDI = "डॉक्टर मेहता त्वचा रोग विशेषज्ञ अंधेरी पश्चिम शाखा"


def _valid(body: dict) -> None:
    validate_message({"messaging_product": "whatsapp", "to": "919800000001", **body})


def test_truncate_counts_code_points() -> None:
    assert truncate("abc", 3) == "abc"
    assert truncate("abcd", 3) == "ab…"
    assert len(truncate("😀" * 30, 24)) == 24
    cut = truncate(HINDI, 24)
    assert len(cut) <= 24 and cut.endswith("…")
    assert not cut[-2] in "\u094d\u200d"  # never ends on a virama or joiner before the ellipsis


def test_list_limits() -> None:
    options = tuple(Option(f"id{i}", f"Dr Venkataraghavan Subramanian {i}", "Dermatology and cosmetology, " * 5) for i in range(10))
    reply = Choices("Pick " * 400, options, button="Choose a doctor please", header="H" * 80, footer="F" * 80)
    body = to_whatsapp(reply)
    inter = body["interactive"]
    rows = inter["action"]["sections"][0]["rows"]
    assert len(rows) == 10
    assert all(len(r["title"]) <= 24 and len(r["description"]) <= 72 for r in rows)
    assert len({r["title"] for r in rows}) == 10  # distinct even after truncation
    assert len(inter["action"]["button"]) <= 20 and len(inter["body"]["text"]) <= 1024
    assert len(inter["header"]["text"]) <= 60 and len(inter["footer"]["text"]) <= 60
    _valid(body)


def test_list_hindi_titles_fit() -> None:
    body = to_whatsapp(Choices(HINDI, (Option("a", HINDI, HINDI * 3), Option("b", HINDI))))
    rows = body["interactive"]["action"]["sections"][0]["rows"]
    assert all(len(r["title"]) <= 24 for r in rows)
    _valid(body)


def test_buttons_limits() -> None:
    body = to_whatsapp(Buttons("Confirm?", (Option("yes", "Yes, book it for me now"), Option("no", "No"), Option("x", "Yes, book it for me later"))))
    titles = [b["reply"]["title"] for b in body["interactive"]["action"]["buttons"]]
    assert len(titles) == 3 and all(len(t) <= 20 for t in titles) and len(set(titles)) == 3
    _valid(body)


def test_other_replies_render_valid() -> None:
    for reply in (Text("hello"), Handoff("A person will reply soon."), Text("x" * 5000),
                  PaymentRequest("Pay ₹500 to confirm", 50000, "INR", "MM-7KQ2X", "https://pay.example/abc"),
                  Location(19.1, 72.8, "MyMedic Andheri", "SV Road"),
                  Template("reminder", "hi", components=({"type": "body", "parameters": []},))):
        _valid(to_whatsapp(reply))
    assert to_whatsapp(PaymentRequest("Pay", 1, "INR", "r", "https://pay.example/x"))["text"]["body"].endswith("https://pay.example/x")
    assert to_whatsapp(Template("reminder", "hi"))["template"] == {"name": "reminder", "language": {"code": "hi"}}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", (0, GSM7)), ("a" * 160, (1, GSM7)), ("a" * 161, (2, GSM7)), ("a" * 306, (2, GSM7)), ("a" * 307, (3, GSM7)),
        ("{" * 80, (1, GSM7)), ("{" * 81, (2, GSM7)), ("€", (1, GSM7)),
        ("₹500", (1, UCS2)), ("₹" * 70, (1, UCS2)), ("₹" * 71, (2, UCS2)), ("न" * 134, (2, UCS2)), ("न" * 135, (3, UCS2)),
        ("😀" * 35, (1, UCS2)), ("😀" * 36, (2, UCS2)),
    ],
)
def test_segments(text: str, expected: tuple[int, str]) -> None:
    assert segments(text) == expected


def test_sms_menu_numbered_and_compact() -> None:
    options = tuple(Option(f"d{i}", f"Dr Doctor{i} Surname", "Dermatology, Andheri West branch") for i in range(8))
    text = to_sms(Choices("Which doctor?", options, footer="0 for menu"))
    lines = text.splitlines()
    assert lines[0] == "Which doctor?"
    assert lines[1].startswith("1 Dr Doctor0") and lines[8].startswith("8 Dr Doctor7")
    assert segments(text)[0] <= 2


def test_sms_menu_hindi_fits_two_segments_when_possible() -> None:
    options = tuple(Option(str(i), f"डॉ. {i}", "त्वचा रोग विशेषज्ञ") for i in range(3))
    text = to_sms(Buttons("कौन?", options))
    assert segments(text) == (2, UCS2) or segments(text)[0] == 1


def test_sms_never_invites_opt_out_words() -> None:
    reply = Buttons("What would you like to do with MM-7KQ2X?", (Option("resched", "Reschedule"), Option("cancel", "Cancel"), Option("keep", "Keep it")))
    text = to_sms(reply)
    assert "2 Cancel" in text and not invites_opt_out(text)
    assert invites_opt_out("Reply CANCEL to cancel") and invites_opt_out("Text 'stop' to end")
    assert not invites_opt_out("Reply 2 to cancel")


def test_sms_other_replies() -> None:
    assert to_sms(Template("x", "en", fallback_text="Reminder: Dr Mehta 10:30")) == "Reminder: Dr Mehta 10:30"
    assert to_sms(PaymentRequest("Pay ₹500", 50000, "INR", "r", "https://pay.example/x")).endswith("https://pay.example/x")
    assert "maps.google.com/?q=19.100000,72.800000" in to_sms(Location(19.1, 72.8, "Clinic", "SV Road"))


def test_sms_menu_keeps_titles_whole_when_cutting_would_not_fit() -> None:
    # Ten time slots under a long non-GSM body: over two segments whatever we cut, so the
    # titles must stay readable rather than "Mon 23 Nov, 9:0…".
    options = tuple(Option(f"t{i}", f"Mon 23 Nov, {9 + i // 4}:{15 * (i % 4):02d} am", "Morning") for i in range(10))
    text = to_sms(Choices("The next free times (₹500 ahead) — pick one, or type a day: " + "x" * 60, options))
    assert "1 Mon 23 Nov, 9:00 am" in text and "10 Mon 23 Nov, 11:15 am" in text
    assert "…" not in text and "Morning" not in text


def test_sms_typographic_characters_keep_english_gsm7() -> None:
    body = "Free times on Tue 1 Dec — pick one, or type another day: “9” or ‘more’… · 10\u00a0am • 2–3"
    text = to_sms(Text(body))
    assert text == "Free times on Tue 1 Dec - pick one, or type another day: \"9\" or 'more'... - 10 am - 2-3"
    assert segments(text) == (1, GSM7)
    menu = to_sms(Choices("Free times on Tue 1 Dec — pick one:", (Option("m", "More times…"),)))
    assert menu == "Free times on Tue 1 Dec - pick one:\n1 More times..."


def test_sms_indic_and_rupee_keep_their_characters() -> None:
    # Once UCS-2 anyway, the real punctuation costs nothing: nothing is replaced.
    for body in ("Pay ₹200 — we'll confirm", "मंगल 1 दिस॰ — कोई समय चुनें…"):
        assert to_sms(Text(body)) == body
        assert segments(to_sms(Text(body)))[1] == UCS2
