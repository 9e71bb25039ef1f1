"""Locale resolution, compiled catalogs and Babel formatting per (language, country, zone)."""

from __future__ import annotations

import datetime as dt
import os
import shutil
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.pofile import write_po

from bot.i18n import (
    LOCALES_DIR,
    Translations,
    Translator,
    ensure_compiled,
    load_translations,
    normalize_language,
    resolve_language,
)

UTC = dt.timezone.utc
# 20:00 UTC on Sunday 22 Nov is 01:30 on Monday 23 Nov in India: the date must follow the branch.
LATE = dt.datetime(2026, 11, 22, 20, 0, tzinfo=UTC)


@pytest.mark.parametrize(("explicit", "remembered", "default", "expected"), [
    ("ta", "hi", "en", "ta"),
    (None, "hi", "en", "hi"),
    (None, None, "ta", "ta"),
    (None, None, None, "en"),
    ("fr", "hi-IN", "en", "hi"),        # unsupported choice falls through; region dropped
    ("", "", "TA_in", "ta"),
    ("klingon", "xx", "yy", "en"),
])
def test_resolve_language(explicit: str | None, remembered: str | None, default: str | None, expected: str) -> None:
    assert resolve_language(explicit, remembered, default) == expected


def test_normalize_language() -> None:
    assert normalize_language("hi_IN") == "hi"
    assert normalize_language("EN-gb") == "en"
    assert normalize_language("de") is None
    assert normalize_language(None) is None


@pytest.mark.parametrize(("language", "expected"), [("en", "₹1,00,000"), ("hi", "₹1,00,000"), ("ta", "₹1,00,000")])
def test_money_uses_indian_grouping(language: str, expected: str) -> None:
    t = Translator(language=language, country="IN")
    assert t.money(10_000_000, "INR") == expected
    assert t.money(12_345_678_900, "INR") == "₹12,34,56,789"
    assert t.money(50_050, "INR") == "₹500.50"


def test_money_follows_the_country() -> None:
    assert Translator(language="en", country="US", timezone="America/New_York").money(10_000_000, "USD") == "$100,000"


@pytest.mark.parametrize(("language", "date", "time"), [
    ("en", "Mon 23 Nov", "1:30 am"),
    ("hi", "सोम 23 नव॰", "1:30 am"),
    ("ta", "திங். 23 நவ.", "1:30 AM"),
])
def test_dates_and_times_in_the_branch_zone(language: str, date: str, time: str) -> None:
    t = Translator(language=language, country="IN", timezone="Asia/Kolkata")
    assert t.date(LATE) == date
    assert t.time(LATE) == time
    assert t.datetime(LATE).startswith(date)


def test_the_same_moment_in_another_zone_is_another_day() -> None:
    assert Translator(language="en", country="GB", timezone="Europe/London").date(LATE) == "Sun 22 Nov"


def test_translations_compile_once_and_cache(tmp_path: Path) -> None:
    translations = Translations(tmp_path)
    mo = tmp_path / "locale" / "hi" / "LC_MESSAGES" / "messages.mo"
    assert mo.exists()
    hi = translations.translator("hi", country="IN", timezone="Asia/Kolkata")
    assert hi is translations.translator("hi-IN", country="in", timezone="Asia/Kolkata")
    assert hi is not translations.translator("hi", country="IN", timezone="Asia/Dubai")
    assert hi.locale.language == "hi" and hi.locale.territory == "IN"
    assert hi("Today") == "आज"
    assert translations.translator("ta", country="IN", timezone="Asia/Kolkata")("Today") == "இன்று"
    assert translations.translator("en", country="IN", timezone="Asia/Kolkata")("Today") == "Today"
    # An unsupported language gets English rather than an error.
    assert translations.translator("de", country="IN", timezone="Asia/Kolkata")("Today") == "Today"


def _catalog_with_plural(language: str, plural_forms: tuple[str, str]) -> Catalog:
    catalog = Catalog(locale=language, domain="messages")
    catalog.add("Today", "आज" if language == "hi" else "Today")
    catalog.add(("{n} free time", "{n} free times"), plural_forms)
    return catalog


def test_recompiles_when_a_po_is_newer(tmp_path: Path) -> None:
    locales = tmp_path / "locales"
    po = locales / "hi" / "LC_MESSAGES" / "messages.po"
    po.parent.mkdir(parents=True)
    with po.open("wb") as fh:
        write_po(fh, _catalog_with_plural("hi", ("{n} खाली समय", "{n} खाली समय")))
    var = tmp_path / "var"
    compiled = ensure_compiled(var, locales)
    mo = compiled / "hi" / "LC_MESSAGES" / "messages.mo"
    first = mo.stat().st_mtime_ns
    ensure_compiled(var, locales)
    assert mo.stat().st_mtime_ns == first, "an up-to-date catalog must not be rewritten"

    catalog = _catalog_with_plural("hi", ("{n} खाली समय", "{n} खाली समय"))
    catalog.add("Tomorrow", "कल")
    with po.open("wb") as fh:
        write_po(fh, catalog)
    later = mo.stat().st_mtime + 5
    os.utime(po, (later, later))
    ensure_compiled(var, locales)
    # gettext caches by path, so read the new file through a fresh catalog object.
    with mo.open("rb") as fh:
        import gettext

        assert gettext.GNUTranslations(fh).gettext("Tomorrow") == "कल"


def test_fuzzy_entries_never_reach_patients(tmp_path: Path) -> None:
    locales = tmp_path / "locales"
    po = locales / "ta" / "LC_MESSAGES" / "messages.po"
    po.parent.mkdir(parents=True)
    catalog = Catalog(locale="ta", domain="messages")
    catalog.add("Tomorrow", "இன்று", flags=("fuzzy",))   # a wrong guess left by a merge
    with po.open("wb") as fh:
        write_po(fh, catalog)
    compiled = ensure_compiled(tmp_path / "var", locales)
    assert load_translations("ta", compiled).gettext("Tomorrow") == "Tomorrow"


@pytest.mark.parametrize(("language", "forms", "expected"), [
    # Hindi (CLDR): 0 and 1 take the singular; Tamil and English: only 1 does.
    ("hi", ("{n} खाली समय", "{n} खाली समय"), {0: 0, 1: 0, 2: 1, 5: 1}),
    ("ta", ("{n} காலி நேரம்", "{n} காலி நேரங்கள்"), {0: 1, 1: 0, 2: 1, 5: 1}),
])
def test_plurals_follow_the_shipped_plural_rule(tmp_path: Path, language: str, forms: tuple[str, str],
                                                expected: dict[int, int]) -> None:
    shipped = LOCALES_DIR / language / "LC_MESSAGES" / "messages.po"
    locales = tmp_path / "locales"
    po = locales / language / "LC_MESSAGES" / "messages.po"
    po.parent.mkdir(parents=True)
    shutil.copy(shipped, po)
    from babel.messages.pofile import read_po

    with po.open("rb") as fh:
        catalog = read_po(fh, locale=language)
    catalog.add(("{n} free time", "{n} free times"), forms)
    with po.open("wb") as fh:
        write_po(fh, catalog)
    translations = Translations(tmp_path / "var", locales_dir=locales)
    t = translations.translator(language, country="IN", timezone="Asia/Kolkata")
    for n, form in expected.items():
        assert t.plural("{n} free time", "{n} free times", n) == forms[form].format(n=n), (language, n)


def test_load_translations_without_a_compiled_dir_reads_the_shipped_catalog() -> None:
    # Callers that have no var directory at hand (workers building one message) still get
    # the patient's language, compiled in memory from locales/<lang>/LC_MESSAGES/messages.po.
    assert load_translations("hi").gettext("Today") == "आज"
    assert load_translations("ta").gettext("Tomorrow") == "நாளை"
    assert load_translations("en").gettext("Today") == "Today"
    assert load_translations("de").gettext("Today") == "Today"
    assert load_translations("hi") is load_translations("hi")
