"""Free-text understanding: dates, parts of day, yes/no, numbers, specialties, names,
global commands — in English, Hindi and Tamil."""

from __future__ import annotations

import datetime as dt

import pytest

from bot.booking.types import DoctorView, PartOfDay
from bot.messages import Channel, Inbound, InboundKind
from flows.turn import resolve_choice
from flows.understand.commands import Command, global_command
from flows.understand.dates import parse_date
from flows.understand.doctors import match_doctors
from flows.understand.numbers import option_number
from flows.understand.specialties import match_specialty
from flows.understand.timeofday import parse_time_wish
from flows.understand.yesno import yes_no

MONDAY = dt.date(2026, 12, 7)


@pytest.mark.parametrize(("text", "expected"), [
    ("today", MONDAY), ("Tomorrow", dt.date(2026, 12, 8)), ("friday", dt.date(2026, 12, 11)),
    ("monday", MONDAY), ("12 dec", dt.date(2026, 12, 12)), ("Dec 12th", dt.date(2026, 12, 12)),
    ("3 jan", dt.date(2027, 1, 3)), ("next week", dt.date(2026, 12, 14)),
    ("day after tomorrow", dt.date(2026, 12, 9)), ("15/12", dt.date(2026, 12, 15)),
    ("2026-12-20", dt.date(2026, 12, 20)),
    ("आज", MONDAY), ("कल सुबह", dt.date(2026, 12, 8)), ("परसों", dt.date(2026, 12, 9)),
    ("शुक्रवार", dt.date(2026, 12, 11)), ("१२ dec", dt.date(2026, 12, 12)),
    ("இன்று", MONDAY), ("நாளை மாலை", dt.date(2026, 12, 8)), ("௧௨/௧௨", dt.date(2026, 12, 12)),
    ("blah", None), ("", None), ("31 feb", None),
])
def test_dates(text: str, expected: dt.date | None) -> None:
    assert parse_date(text, MONDAY) == expected


@pytest.mark.parametrize(("text", "part", "after"), [
    ("morning", PartOfDay.MORNING, None), ("tomorrow evening", PartOfDay.EVENING, None),
    ("afternoon please", PartOfDay.AFTERNOON, None), ("after 5", None, dt.time(17)),
    ("after 10:30 am", None, dt.time(10, 30)), ("5 के बाद", None, dt.time(17)),
    ("tomorrow after 5", None, dt.time(17)), ("कल 6 बजे के बाद", None, dt.time(18)),
    ("सुबह", PartOfDay.MORNING, None), ("மாலை", PartOfDay.EVENING, None),
])
def test_time_wishes(text: str, part: PartOfDay | None, after: dt.time | None) -> None:
    wish = parse_time_wish(text)
    assert wish is not None and wish.part_of_day == part and wish.after == after


def test_no_time_wish() -> None:
    assert parse_time_wish("dr mehta") is None


@pytest.mark.parametrize(("text", "expected"), [
    ("yes", True), ("OK", True), ("हाँ", True), ("ஆம்", True), ("சரி", True),
    ("no", False), ("नहीं", False), ("இல்லை", False), ("maybe", None),
])
def test_yes_no(text: str, expected: bool | None) -> None:
    assert yes_no(text) is expected


def test_option_numbers() -> None:
    assert option_number("2") == 2
    assert option_number(" #3 ") == 3
    assert option_number("२") == 2
    assert option_number("௩") == 3
    assert option_number("two") is None


OFFERED = ["cardiology", "dermatology", "pediatrics"]


@pytest.mark.parametrize(("text", "expected"), [
    ("skin doc", "dermatology"), ("Dermatologist", "dermatology"), ("heart", "cardiology"),
    ("cardiolgy", "cardiology"), ("my baby has fever", "pediatrics"), ("त्वचा", "dermatology"),
    ("தோல்", "dermatology"), ("dentist", None), ("xyzzy", None),
])
def test_specialties(text: str, expected: str | None) -> None:
    assert match_specialty(text, OFFERED) == expected


def _doctor(i: int, first: str, last: str) -> DoctorView:
    return DoctorView(i, 1, "Dr.", first, last, ("dermatology",), ("en",), 0, "INR", False, (1,))


def test_doctor_names() -> None:
    doctors = [_doctor(1, "Anita", "Mehta"), _doctor(2, "Ravi", "Kumar")]
    assert [d.id for d in match_doctors("dr mehta", doctors)] == [1]
    assert [d.id for d in match_doctors("Dr. Mehtaa", doctors)] == [1]
    assert [d.id for d in match_doctors("ravi kumar ji", doctors)] == [2]
    assert match_doctors("dr zzz", doctors) == []
    assert match_doctors("doctor", doctors) == []


@pytest.mark.parametrize(("text", "sms", "expected"), [
    ("menu", False, Command.MENU), ("MENU", True, Command.MENU), ("मेनू", False, Command.MENU),
    ("back", False, Command.BACK), ("वापस", False, Command.BACK), ("உதவி", False, Command.HELP),
    ("agent", False, Command.HUMAN), ("human", True, Command.HUMAN), ("भाषा", False, Command.LANGUAGE),
    ("STOP", True, Command.STOP), ("stop", False, Command.STOP),
    ("CANCEL", True, Command.STOP), ("end", True, Command.STOP), ("quit", True, Command.STOP),
    ("unsubscribe", True, Command.STOP), ("stopall", True, Command.STOP), ("revoke", True, Command.STOP),
    ("optout", True, Command.STOP), ("START", True, Command.START), ("unstop", True, Command.START),
    ("cancel", False, None), ("book for my mother", False, None), ("yes", True, None),
])
def test_global_commands(text: str, sms: bool, expected: Command | None) -> None:
    assert global_command(text, sms=sms) == expected


def _inbound(**kw: object) -> Inbound:
    base = dict(channel=Channel.SMS, account="a", user_id="u", message_id="m",
                timestamp=dt.datetime(2026, 12, 7, tzinfo=dt.timezone.utc))
    return Inbound(**{**base, **kw})  # type: ignore[arg-type]


def test_options_map_by_number_title_or_id_on_any_channel() -> None:
    options = [["book", "Book appointment"], ["appointments", "My appointments"]]
    assert resolve_choice(_inbound(kind=InboundKind.TEXT, text="2"), options) == "appointments"
    assert resolve_choice(_inbound(kind=InboundKind.TEXT, text="२"), options) == "appointments"
    assert resolve_choice(_inbound(kind=InboundKind.TEXT, text="book appointment!"), options) == "book"
    assert resolve_choice(_inbound(kind=InboundKind.TEXT, text="3"), options) is None
    assert resolve_choice(_inbound(kind=InboundKind.CHOICE, choice_id="book"), options) == "book"
    assert resolve_choice(_inbound(kind=InboundKind.CHOICE, choice_id="stale"), options) is None
