"""Imports every module that declares tables, so `Base.metadata` is complete
(for Alembic and for the test that compares models with migrations)."""

from __future__ import annotations

import importlib

MODEL_MODULES: tuple[str, ...] = (
    "bot.booking.models",
    "bot.outbox.models",
    "workers.models",
    "bot.inbox.models",
)


def import_all_models() -> None:
    for name in MODEL_MODULES:
        importlib.import_module(name)
