"""Translation and locale-aware formatting for patient-facing text (Babel + gettext).

Flows receive a `Translator` bound to the patient's language and the branch's country
and time zone; every sentence goes through `t("…", **params)` so `pybabel extract`
finds it (keywords `t`, `_`, `t.plural`). Placeholders use `{name}` (str.format).
"""

from __future__ import annotations

import datetime as dt
import gettext
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import format_date, format_datetime, format_time
from babel.numbers import format_currency

from bot.config import PROJECT_ROOT

LOCALES_DIR = PROJECT_ROOT / "locales"
SUPPORTED_LANGUAGES: tuple[str, ...] = ("en", "hi", "ta")
DEFAULT_LANGUAGE = "en"
DOMAIN = "messages"


def load_translations(language: str, compiled_dir: Path | None = None) -> gettext.NullTranslations:
    """The compiled catalog for `language`, or untranslated English when there is none."""
    search = [d for d in (compiled_dir, LOCALES_DIR) if d is not None]
    for base in search:
        try:
            return gettext.translation(DOMAIN, localedir=str(base), languages=[language])
        except OSError:
            continue
    return gettext.NullTranslations()


@dataclass
class Translator:
    """Gettext plus Babel formatting for one (language, country, time zone)."""

    language: str = DEFAULT_LANGUAGE
    country: str = "IN"
    timezone: str = "Asia/Kolkata"
    translations: gettext.NullTranslations = field(default_factory=gettext.NullTranslations)

    @property
    def locale(self) -> Locale:
        return Locale.parse(f"{self.language}_{self.country}")

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
        return format_time(self._local(moment), fmt, locale=self.locale)

    def datetime(self, moment: dt.datetime, fmt: str = "EEE d MMM, h:mm a") -> str:
        return format_datetime(self._local(moment), fmt, locale=self.locale)

    def money(self, amount_minor: int, currency: str = "INR") -> str:
        amount = Decimal(amount_minor) / 100
        fmt = None if amount != amount.to_integral() else "¤#,##,##0"
        return format_currency(amount, currency, format=fmt, locale=self.locale, currency_digits=fmt is None)
