"""Translation and locale-aware formatting for patient-facing text (Babel + gettext).

Flows receive a `Translator` bound to the patient's language and the branch's country
and time zone; every sentence goes through `t("…", **params)` so `pybabel extract`
finds it (keywords `t`, `_`, `t.plural`). Placeholders use `{name}` (str.format).
"""

from __future__ import annotations

import datetime as dt
import functools
import gettext
import io
import logging
import os
import re
import tempfile
import threading
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import format_date, format_datetime, format_time
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_currency, get_currency_symbol

from bot.config import PROJECT_ROOT

log = logging.getLogger(__name__)

LOCALES_DIR = PROJECT_ROOT / "locales"
SUPPORTED_LANGUAGES: tuple[str, ...] = ("en", "hi", "ta")
DEFAULT_LANGUAGE = "en"
DOMAIN = "messages"


def load_translations(language: str, compiled_dir: Path | None = None) -> gettext.NullTranslations:
    """The compiled catalog for `language`, or untranslated English when there is none.

    Looks in `compiled_dir` (see `ensure_compiled`), then for a `.mo` under `locales/`, and
    finally compiles `locales/<lang>/LC_MESSAGES/messages.po` in memory, so a caller that
    has no var directory at hand still speaks the patient's language.
    """
    search = [d for d in (compiled_dir, LOCALES_DIR) if d is not None]
    for base in search:
        try:
            return gettext.translation(DOMAIN, localedir=str(base), languages=[language])
        except OSError:
            continue
    po = LOCALES_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po"
    if language in SUPPORTED_LANGUAGES and po.exists():
        return _compile_in_memory(str(po), po.stat().st_mtime_ns)
    return gettext.NullTranslations()


@functools.lru_cache(maxsize=len(SUPPORTED_LANGUAGES) * 2)
def _compile_in_memory(po_path: str, _mtime_ns: int) -> gettext.NullTranslations:
    # Parsing a catalog costs tens of milliseconds, too much per worker job; the cache is
    # keyed on the file's mtime so an edited catalog is picked up, and holds read-only
    # translation objects only.
    with open(po_path, "rb") as fh:
        catalog = read_po(fh, domain=DOMAIN)
    buffer = io.BytesIO()
    write_mo(buffer, catalog, use_fuzzy=False)
    buffer.seek(0)
    return gettext.GNUTranslations(buffer)


@functools.lru_cache(maxsize=64)
def _locale(language: str, country: str) -> Locale:
    # Parsed once per process: every date, time and amount of a reminder wave asks for it.
    return Locale.parse(f"{language}_{country}")


def _plain_spaces(text: str) -> str:
    # CLDR puts U+202F (narrow no-break space) before "am"/"pm"; outside GSM-7 it would turn
    # every English SMS that shows a time into UCS-2 (70 instead of 160 characters a segment).
    return text.replace("\u202f", " ")


@dataclass
class Translator:
    """Gettext plus Babel formatting for one (language, country, time zone)."""

    language: str = DEFAULT_LANGUAGE
    country: str = "IN"
    timezone: str = "Asia/Kolkata"
    translations: gettext.NullTranslations = field(default_factory=gettext.NullTranslations)

    @property
    def locale(self) -> Locale:
        return _locale(self.language, self.country)

    def __call__(self, message: str, **params: object) -> str:
        text = self.translations.gettext(message)
        return text.format(**params) if params else text

    def plural(self, singular: str, plural: str, n: int, **params: object) -> str:
        text = self.translations.ngettext(singular, plural, n)
        return text.format(n=n, **params)

    def _local(self, moment: dt.datetime) -> dt.datetime:
        return moment.astimezone(ZoneInfo(self.timezone))

    def date(self, moment: dt.datetime | dt.date, fmt: str = "EEE d MMM") -> str:
        if isinstance(moment, dt.datetime):
            moment = self._local(moment).date()
        return format_date(moment, fmt, locale=self.locale)

    def time(self, moment: dt.datetime, fmt: str = "short") -> str:
        return _plain_spaces(format_time(self._local(moment), fmt, locale=self.locale))

    def datetime(self, moment: dt.datetime, fmt: str = "EEE d MMM, h:mm a") -> str:
        return _plain_spaces(format_datetime(self._local(moment), fmt, locale=self.locale))

    def money(self, amount_minor: int, currency: str = "INR", *, ascii_symbol: bool = False) -> str:
        """`amount_minor` (paise for INR) in the locale's currency format: ₹1,00,000 / ₹250.50.

        Whole amounts drop the fraction (patients read "₹500", not "₹500.00"); the grouping
        comes from the locale, so en_IN/hi_IN/ta_IN give lakh grouping and en_US thousands.
        `ascii_symbol` writes the symbol as plain letters ("Rs 500"): for SMS, where "₹"
        alone switches an English message to UCS-2 and so to 70 characters a segment.
        """
        amount = Decimal(amount_minor) / 100
        if amount != amount.to_integral():
            text = format_currency(amount, currency, locale=self.locale)
        else:
            pattern = self.locale.currency_formats["standard"].pattern
            whole = re.sub(r"\.0+", "", pattern)
            text = format_currency(amount, currency, format=whole, locale=self.locale, currency_digits=False)
        if ascii_symbol:
            symbol = get_currency_symbol(currency, locale=self.locale)
            plain = _ASCII_CURRENCY.get(currency, currency)
            text = text.replace(symbol, plain + " ").replace("  ", " ").strip()
        return text


# The customary plain-letter currency abbreviations (money(..., ascii_symbol=True)).
_ASCII_CURRENCY: dict[str, str] = {"INR": "Rs"}


# --- locale resolution ----------------------------------------------------------------


def translator_for(language: str | None, *, timezone: str, country: str = "IN") -> Translator:
    """A Translator for callers without the process's `Translations` (reply paths that get
    only a session): catalogs from `load_translations`, compiled once per process."""
    lang = language or DEFAULT_LANGUAGE
    return Translator(language=lang, country=country, timezone=timezone, translations=load_translations(lang))


def normalize_language(code: str | None) -> str | None:
    """"hi-IN", "HI", "hi_IN" → "hi"; None when not one of SUPPORTED_LANGUAGES."""
    if not code:
        return None
    base = re.split(r"[-_]", code.strip().lower(), maxsplit=1)[0]
    return base if base in SUPPORTED_LANGUAGES else None


def resolve_language(explicit: str | None, remembered: str | None, clinic_default: str | None) -> str:
    """The patient's language: explicit choice → remembered preference → clinic default → English.

    Unsupported or empty values are skipped, so a stale preference never breaks a reply.
    """
    for candidate in (explicit, remembered, clinic_default):
        language = normalize_language(candidate)
        if language:
            return language
    return DEFAULT_LANGUAGE


# --- catalogs compiled at first start ------------------------------------------------


def compiled_dir(var_dir: Path) -> Path:
    """Where compiled catalogs live: `<var_dir>/locale/<lang>/LC_MESSAGES/messages.mo`."""
    return Path(var_dir) / "locale"


def ensure_compiled(var_dir: Path, locales_dir: Path = LOCALES_DIR) -> Path:
    """Compile every `locales/<lang>/LC_MESSAGES/messages.po` into `var_dir` when missing or stale.

    Editable installs and fresh checkouts run no build step, so the web process and the
    worker each call this at start. Writes are atomic (temp file + rename) because both may
    start at once. Fuzzy entries are left out: an unreviewed guess must not reach patients.
    Returns the compiled directory to pass to `load_translations` / `Translations`.
    """
    target_root = compiled_dir(var_dir)
    for po_path in sorted(Path(locales_dir).glob(f"*/LC_MESSAGES/{DOMAIN}.po")):
        language = po_path.parent.parent.name
        mo_path = target_root / language / "LC_MESSAGES" / f"{DOMAIN}.mo"
        if mo_path.exists() and mo_path.stat().st_mtime >= po_path.stat().st_mtime:
            continue
        mo_path.parent.mkdir(parents=True, exist_ok=True)
        with po_path.open("rb") as fh:
            catalog = read_po(fh, locale=language, domain=DOMAIN)
        fd, tmp_name = tempfile.mkstemp(dir=mo_path.parent, suffix=".mo.tmp")
        try:
            with os.fdopen(fd, "wb") as out:
                write_mo(out, catalog, use_fuzzy=False)
            os.replace(tmp_name, mo_path)
        except BaseException:
            Path(tmp_name).unlink(missing_ok=True)
            raise
        log.info("compiled catalog language=%s messages=%d", language, len(catalog))
    return target_root


class Translations:
    """Translator factory with caching per (language, country, time zone).

    One instance per process (an aiohttp AppKey / arq ctx entry): catalogs are compiled
    once into `var_dir` and each (language, country, timezone) Translator is built once.
    """

    def __init__(self, var_dir: Path, *, locales_dir: Path = LOCALES_DIR) -> None:
        self._compiled = ensure_compiled(var_dir, locales_dir)
        self._catalogs: dict[str, gettext.NullTranslations] = {}
        self._translators: dict[tuple[str, str, str], Translator] = {}
        self._lock = threading.Lock()  # workers may build translators from threads

    @property
    def compiled_dir(self) -> Path:
        return self._compiled

    def catalog(self, language: str) -> gettext.NullTranslations:
        """The gettext catalog for a supported language (English identity otherwise)."""
        language = normalize_language(language) or DEFAULT_LANGUAGE
        with self._lock:
            found = self._catalogs.get(language)
            if found is None:
                found = load_translations(language, self._compiled)
                self._catalogs[language] = found
            return found

    def translator(self, language: str | None, *, country: str = "IN", timezone: str = "Asia/Kolkata") -> Translator:
        """A Translator for the patient's language formatted for the branch's country and zone."""
        language = normalize_language(language) or DEFAULT_LANGUAGE
        key = (language, country.upper(), timezone)
        with self._lock:
            found = self._translators.get(key)
        if found is not None:
            return found
        made = Translator(language=language, country=key[1], timezone=timezone,
                          translations=self.catalog(language))
        with self._lock:
            return self._translators.setdefault(key, made)
