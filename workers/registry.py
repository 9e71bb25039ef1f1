"""What the worker runs: dotted names of job functions and cron jobs.

Feature modules add theirs by appending a name here (e.g. reminders, ASAP offers).
A function entry names either a coroutine `async def job(ctx, ...)` or an arq
`Function` built with `arq.worker.func(...)` (own timeout / max_tries); a cron entry
names an arq `CronJob` built with `arq.cron.cron(...)`.
"""

from __future__ import annotations

import importlib
from typing import Any

FUNCTIONS: tuple[str, ...] = (
    "workers.jobs.SEND",
    "workers.jobs.SEND_BATCH",
    "workers.jobs.SWEEP",
    "workers.jobs.PURGE",
    "workers.timed_jobs.SEND_SCHEDULED",
    "workers.timed_jobs.ASAP_ADVANCE",
    "workers.timed_jobs.EVENTS",
    "workers.timed_jobs.SWEEP_SCHEDULED",
)

CRON_JOBS: tuple[str, ...] = (
    "workers.jobs.SWEEP_CRON",
    "workers.jobs.PURGE_CRON",
    "workers.timed_jobs.EVENTS_CRON",
    "workers.timed_jobs.SCHEDULED_CRON",
    "workers.timed_jobs.HOLDS_CRON",
    "workers.timed_jobs.ASAP_CRON",
    "workers.timed_jobs.PAYMENTS_CRON",
    "workers.timed_jobs.TELE_CRON",
)


def resolve(name: str) -> Any:
    """The object a dotted `module.attribute` name points at."""
    module_name, _, attr = name.rpartition(".")
    return getattr(importlib.import_module(module_name), attr)


def functions(names: tuple[str, ...] = FUNCTIONS) -> list[Any]:
    return [resolve(n) for n in names]


def cron_jobs(names: tuple[str, ...] = CRON_JOBS) -> list[Any]:
    return [resolve(n) for n in names]
