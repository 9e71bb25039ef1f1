"""The translator factory injected into flows: one `Translator` per (language, branch),
with each compiled gettext catalog loaded once per process."""

from __future__ import annotations

import gettext

from bot.booking.types import BranchView
from bot.i18n import DEFAULT_LANGUAGE, SUPPORTED_LANGUAGES, Translations, Translator, load_translations


class TranslatorFactory:
    """`factory(language, branch)` -> a Translator for the patient's language and the
    branch's country and time zone (defaults when the branch is not known yet).

    Pass the process's `Translations` (catalogs compiled at start into `var/locale`); without
    it the catalogs are compiled in memory from `locales/` (tests, scripts)."""

    def __init__(self, translations: Translations | None = None) -> None:
        self._translations = translations
        self._catalogs: dict[str, gettext.NullTranslations] = {}

    def catalog(self, language: str) -> gettext.NullTranslations:
        if self._translations is not None:
            return self._translations.catalog(language)
        if language not in self._catalogs:
            self._catalogs[language] = load_translations(language)
        return self._catalogs[language]

    def __call__(self, language: str | None, branch: BranchView | None = None) -> Translator:
        lang = language if language in SUPPORTED_LANGUAGES else DEFAULT_LANGUAGE
        if branch is None:
            return Translator(language=lang, translations=self.catalog(lang))
        return Translator(lang, branch.country, branch.timezone, self.catalog(lang))
