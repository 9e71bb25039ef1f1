"""What the time-driven jobs need, taken from the arq `ctx` (or built for a caller).

Jobs receive `ctx` from arq (filled by `workers.main.build_context`); the same `Deps`
is built by the web routes and the tests from their own resources, so every caller
runs the same code with the same clock.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from arq.connections import ArqRedis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.config import Settings
from bot.db import utcnow
from bot.i18n import Translations, Translator, translator_for
from bot.message_templates import TemplateRegistry, load_registry

Clock = Callable[[], dt.datetime]


@dataclass
class Deps:
    """Shared resources of the time-driven jobs."""

    settings: Settings
    sessionmaker: async_sessionmaker[AsyncSession]
    booking: Any                      # bot.booking.service.BookingService
    arq: ArqRedis | None
    clock: Clock = utcnow
    templates: TemplateRegistry = field(default_factory=load_registry)
    translations: Translations | None = None  # the ctx's; built on first use when absent

    def now(self) -> dt.datetime:
        return self.clock()

    def translator(self, language: str | None, *, country: str = "IN",
                   timezone: str = "Asia/Kolkata") -> Translator:
        """A Translator from the catalogs compiled into `settings.var_dir`."""
        if self.translations is None:
            if self.settings is None:  # a caller without settings: catalogs compiled in memory
                return translator_for(language, timezone=timezone, country=country)
            self.translations = Translations(self.settings.var_dir)
        return self.translations.translator(language, country=country, timezone=timezone)


CTX_KEY = "h6_deps"


def deps_from_ctx(ctx: dict[str, Any]) -> Deps:
    """The `Deps` of a worker context, built once and cached in it."""
    cached = ctx.get(CTX_KEY)
    if cached is not None:
        return cached  # type: ignore[no-any-return]
    sessionmaker = ctx["sessionmaker"]
    clock: Clock = ctx.get("clock") or utcnow
    booking = ctx.get("booking")
    if booking is None:
        from bot.booking.service import BookingService  # noqa: PLC0415 - built on demand

        booking = BookingService(sessionmaker, clock=clock)
        ctx["booking"] = booking
    deps = Deps(
        settings=ctx["settings"], sessionmaker=sessionmaker, booking=booking,
        arq=ctx.get("redis") or ctx.get("arq"), clock=clock,
        templates=ctx.get("templates") or load_registry(),
        translations=ctx.get("translations"),
    )
    ctx[CTX_KEY] = deps
    return deps
