"""The dispatcher's translator factory and the worker context read the catalogs compiled
at start into `<var_dir>/locale` (not an in-memory compile per process)."""

from __future__ import annotations

from pathlib import Path

from bot.config import Settings
from bot.dispatch.translators import TranslatorFactory
from bot.i18n import Translations
from workers.deps import Deps

CONSENT = ("We'll send you messages here about your appointments (confirmations and reminders). "
           "You can stop them any time by sending STOP. Is that OK?")


def test_factory_uses_the_compiled_catalogs(tmp_path: Path) -> None:
    translations = Translations(tmp_path)
    assert (tmp_path / "locale" / "hi" / "LC_MESSAGES" / "messages.mo").exists()
    factory = TranslatorFactory(translations)
    assert factory.catalog("hi") is translations.catalog("hi")
    assert factory("hi")(CONSENT) != CONSENT and "STOP" in factory("ta")(CONSENT)
    assert factory("xx")(CONSENT) == CONSENT   # unsupported: English


def test_worker_deps_translate_from_var_dir(settings: Settings) -> None:
    deps = Deps(settings=settings, sessionmaker=None, booking=None, arq=None)  # type: ignore[arg-type]
    t = deps.translator("ta", timezone="Asia/Kolkata")
    assert t(CONSENT) != CONSENT
    assert (settings.var_dir / "locale" / "ta" / "LC_MESSAGES" / "messages.mo").exists()
    assert deps.translations is not None and deps.translations.compiled_dir == settings.var_dir / "locale"
