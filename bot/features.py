"""The list of feature packages wired into the web app, in order."""

from __future__ import annotations

import importlib
import logging

from aiohttp import web

from bot.config import Settings

log = logging.getLogger(__name__)

# Each module exposes `setup(app: web.Application, settings: Settings) -> None`.
FEATURES: tuple[str, ...] = (
    "bot.metrics",
    "bot.booking.web",
    "bot.web.webhooks",
    "bot.inbox.web",
    "bot.tele.web",
)
SANDBOX_FEATURES: tuple[str, ...] = ("bot.sandbox.web", "bot.payments.sandbox_web")


def setup(app: web.Application, settings: Settings) -> None:
    names = FEATURES + (SANDBOX_FEATURES if settings.sandbox else ())
    for name in names:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name and name.startswith(exc.name):
                continue  # feature not present in this build
            raise
        module.setup(app, settings)
