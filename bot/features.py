"""The list of feature packages wired into the web app, in order."""

from __future__ import annotations

import importlib

from aiohttp import web

from bot.config import Settings

# Each module exposes `setup(app: web.Application, settings: Settings) -> None`.
FEATURES: tuple[str, ...] = (
    "bot.metrics",
    "bot.web.webhooks",
    "bot.inbox.web",
    "bot.tele.web",
)
SANDBOX_FEATURES: tuple[str, ...] = ("bot.sandbox.web", "bot.payments.sandbox_web")


def setup(app: web.Application, settings: Settings) -> None:
    names = FEATURES + (SANDBOX_FEATURES if settings.sandbox else ())
    for name in names:
        importlib.import_module(name).setup(app, settings)
