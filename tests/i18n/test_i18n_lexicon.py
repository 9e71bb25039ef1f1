"""Input in Hindi and Tamil: the word lists are matchable and the parsers understand them."""

from __future__ import annotations

import datetime as dt
import unicodedata

import pytest
from babel import Locale

import flows.understand.words as words
from bot.i18n import Translator
from flows.understand.commands import Command, global_command
from flows.understand.dates import parse_date
from flows.understand.specialties import match_specialty
from flows.understand.text import normalize
from flows.understand.yesno import yes_no

SLUGS = ["general_medicine", "dermatology", "pediatrics", "cardiology", "gynecology", "orthopedics",
         "ent", "dentistry"]
TODAY = dt.date(2026, 11, 22)   # a Sunday


def _script(ch: str) -> str | None:
    name = unicodedata.name(ch, "")
    return "deva" if "DEVANAGARI" in name else "taml" if "TAMIL" in name else "latn" if name.startswith("LATIN") else None


def _all_words() -> list[tuple[str, str]]:
    out = []
    for name in dir(words):
        value = getattr(words, name)
        if name.startswith("_") or not isinstance(value, (dict, tuple)):
            continue
        items = list(value) if isinstance(value, tuple) else list(value.keys())
        if isinstance(value, dict):
            items += [w for v in value.values() if isinstance(v, tuple) for w in v]
        out += [(name, w) for w in items if isinstance(w, str)]
    return out


def test_indic_words_are_normalized_and_in_one_script() -> None:
    # An entry that normalize() would change (NFC nukta forms) or that mixes scripts (a
    # Devanagari letter in a Tamil word) can never match what a patient types.
    bad = [(name, w) for name, w in _all_words()
           if {_script(c) for c in w} & {"deva", "taml"}
           and (normalize(w) != w or len({_script(c) for c in w} - {None}) > 1)]
    assert not bad


@pytest.mark.parametrize(("text", "days"), [
    ("आज", 0), ("कल", 1), ("परसों", 2),
    ("இன்று", 0), ("நாளை", 1), ("நாளை மறுநாள்", 2), ("நாளன்னைக்கு", 2),
    ("शुक्रवार", 5), ("शुक्रवार शाम", 5), ("வெள்ளி", 5), ("வெள்ளிக்கிழமை", 5), ("सोमवार", 1),
    ("ஞாயிற்றுக்கிழமை", 0),
])
def test_relative_days_and_weekdays(text: str, days: int) -> None:
    assert parse_date(text, TODAY) == TODAY + dt.timedelta(days=days)


@pytest.mark.parametrize("text", ["12 दिसंबर", "१२ दिसंबर", "12 दिसम्बर", "12 டிசம்பர்", "௧௨ டிசம்பர்", "12 டிச."])
def test_day_and_month_names_with_native_digits(text: str) -> None:
    assert parse_date(text, TODAY) == dt.date(2026, 12, 12)


@pytest.mark.parametrize("language", ["hi", "ta"])
def test_the_bots_own_date_labels_parse_back(language: str) -> None:
    # Day lists show Babel's "सोम 23 नव॰" / "திங். 23 நவ."; a patient typing one back is understood.
    t = Translator(language=language, country="IN", timezone="Asia/Kolkata")
    for offset in range(0, 360, 7):   # labels carry no year: stay within one
        day = TODAY + dt.timedelta(days=offset)
        label = t.date(day)
        assert parse_date(label, TODAY) == day, label
    locale = Locale.parse(language)
    for fmt in ("abbreviated", "wide"):
        for idx, name in locale.days["format"][fmt].items():
            assert words.WEEKDAYS.get(normalize(name).strip(".")) == idx, name
        for idx, name in locale.months["format"][fmt].items():
            assert words.MONTHS.get(normalize(name).strip(".")) == idx, name


@pytest.mark.parametrize(("text", "expected"), [
    ("हाँ", True), ("जी हाँ", True), ("ठीक है", True), ("ज़रूर", True), ("ஆம்", True), ("சரி", True),
    ("ஆமாம்", True), ("नहीं", False), ("जी नहीं", False), ("இல்லை", False), ("வேண்டாம்", False),
    ("शायद", None), ("ஒருவேளை", None),
])
def test_yes_no(text: str, expected: bool | None) -> None:
    assert yes_no(text) is expected


@pytest.mark.parametrize(("text", "slug"), [
    ("skin", "dermatology"), ("त्वचा", "dermatology"), ("தோல்", "dermatology"),
    ("दिल", "cardiology"), ("இதயம்", "cardiology"), ("बच्चों का डॉक्टर", "pediatrics"),
    ("குழந்தை", "pediatrics"), ("स्त्री रोग", "gynecology"), ("மகப்பேறு", "gynecology"),
    ("हड्डी", "orthopedics"), ("மூட்டு வலி", "orthopedics"), ("कान में दर्द", "ent"), ("காது", "ent"),
    ("दांत", "dentistry"), ("பல் வலி", "dentistry"), ("बुखार", "general_medicine"),
    ("காய்ச்சல்", "general_medicine"),
])
def test_specialty_words(text: str, slug: str) -> None:
    assert match_specialty(text, SLUGS) == slug


def test_every_specialty_has_hindi_and_tamil_words() -> None:
    for slug in SLUGS:
        mapped = [w for w, s in words.SPECIALTY_SYNONYMS.items() if s == slug]
        scripts = {_script(c) for w in mapped for c in w}
        assert {"deva", "taml"} <= scripts, slug


@pytest.mark.parametrize(("text", "command"), [
    ("मेनू", Command.MENU), ("மெனு", Command.MENU), ("वापस", Command.BACK), ("பின்", Command.BACK),
    ("मदद", Command.HELP), ("உதவி", Command.HELP), ("इंसान से बात", Command.HUMAN),
    ("ஊழியர்", Command.HUMAN), ("भाषा", Command.LANGUAGE), ("மொழி", Command.LANGUAGE),
    ("மொழியை மாற்று", Command.LANGUAGE), ("बंद करो", Command.STOP), ("நிறுத்து", Command.STOP),
    ("शुरू करें", Command.START), ("தொடங்கு", Command.START),
])
def test_global_commands(text: str, command: Command) -> None:
    assert global_command(text, sms=False) == command


@pytest.mark.parametrize(("text", "language"), [
    ("hindi", "hi"), ("Hindi", "hi"), ("हिंदी", "hi"), ("हिन्दी", "hi"), ("இந்தி", "hi"),
    ("tamil", "ta"), ("தமிழ்", "ta"), ("तमिल", "ta"), ("english", "en"), ("अंग्रेज़ी", "en"),
    ("ஆங்கிலம்", "en"),
])
def test_language_names(text: str, language: str) -> None:
    assert words.LANGUAGE_NAME_WORDS.get(normalize(text)) == language
