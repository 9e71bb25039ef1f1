"""The arq worker: `WorkerSettings`, the worker context, and `run_worker`.

`build_context` / `close_context` assemble what every job finds in `ctx` (engine,
sessionmaker, the arq pool as `redis`, senders, the booking service, the clock, the
rate limiter, shared metric counters). Tests build the same context with their own
clock and run a burst `arq.worker.Worker` over it.

SIGTERM drains: arq stops picking jobs, waits up to `DRAIN_TIMEOUT_S` for the running
ones, and a job still unfinished then is cancelled and stays queued for a retry (arq
re-queues cancelled jobs), so nothing is lost.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from collections.abc import Callable
from typing import Any

from arq.connections import ArqRedis, create_pool
from arq.worker import Worker
from redis.exceptions import RedisError

from bot.config import Settings
from bot.db import make_engine, make_sessionmaker, utcnow
from bot.heap import freeze_startup_heap
from bot.i18n import Translations
from bot.messages import Channel
from bot.metrics import SharedCounters
from bot.outbox.limits import RateLimiter
from bot.redis_conn import arq_settings
from workers import registry
from workers.delivery import SEND_RECORDS, SEND_TIMEOUT_S, send_context

log = logging.getLogger(__name__)

DRAIN_TIMEOUT_S = SEND_TIMEOUT_S + 5
POLL_DELAY_S = 0.05       # how soon a fresh reply job is picked up
DEFAULT_MAX_JOBS = 200    # concurrent jobs per process; sends mostly wait on I/O and the limiter
_OWNED = "_owned_resources"
MAX_RESTART_DELAY_S = 30.0
ABANDON_TIMEOUT_S = 10.0


def _build_senders(settings: Settings) -> dict[Channel, Any]:
    from bot.channels.senders import SmsSender, WhatsAppSender  # noqa: PLC0415 - heavy SDK imports

    return {Channel.WHATSAPP: WhatsAppSender(settings), Channel.SMS: SmsSender(settings)}


def _build_booking(sessionmaker: Any, clock: Callable[[], dt.datetime]) -> Any | None:
    try:
        from bot.booking.service import BookingService  # noqa: PLC0415
    except ModuleNotFoundError as exc:
        if exc.name and "bot.booking.service".startswith(exc.name):
            return None
        raise
    return BookingService(sessionmaker, clock=clock)


async def build_context(
    settings: Settings,
    *,
    clock: Callable[[], dt.datetime] | None = None,
    redis: ArqRedis | None = None,
) -> dict[str, Any]:
    """Everything jobs find in `ctx`. Pass `redis` to share an existing arq pool."""
    if redis is None and not settings.redis_url:
        raise ValueError("settings.redis_url is required (start the embedded Redis first)")
    engine = make_engine(settings.database_url)
    sessionmaker = make_sessionmaker(engine)
    owned: list[Any] = [engine]
    if redis is None:
        redis = await create_pool(arq_settings(settings.redis_url or ""))
        owned.append(redis)
    senders = _build_senders(settings)
    owned.extend(senders.values())
    the_clock = clock or utcnow
    return {
        "settings": settings,
        "engine": engine,
        "sessionmaker": sessionmaker,
        "redis": redis,
        "arq": redis,
        "clock": the_clock,
        "senders": senders,
        "booking": _build_booking(sessionmaker, the_clock),
        "limiter": RateLimiter(redis),
        "counters": SharedCounters(redis),
        # Catalogs compiled once at start into var/locale (see bot.i18n.ensure_compiled).
        "translations": Translations(settings.var_dir),
        **send_context(sessionmaker, redis),
        _OWNED: owned,
    }


async def close_context(ctx: dict[str, Any]) -> None:
    """Release what `build_context` opened (never a pool it was given)."""
    recorder = ctx.pop(SEND_RECORDS, None)
    if recorder is not None:  # a send record being committed finishes before the engine goes
        await recorder.aclose()
    for resource in reversed(ctx.pop(_OWNED, [])):
        try:
            if isinstance(resource, ArqRedis):
                await resource.aclose()
            elif hasattr(resource, "aclose"):
                await resource.aclose()
            elif hasattr(resource, "dispose"):
                await resource.dispose()
        except Exception:  # noqa: BLE001 - shutdown goes on whatever one resource says
            log.exception("closing a worker resource failed")


class WorkerSettings:
    """arq settings: the registry's functions and cron jobs, draining on SIGTERM.

    `run_worker` uses these with the deployment's `Settings`; `arq workers.main.WorkerSettings`
    works too (settings from the environment).
    """

    functions = registry.functions()
    cron_jobs = registry.cron_jobs()
    job_completion_wait = DRAIN_TIMEOUT_S
    poll_delay = POLL_DELAY_S
    max_jobs = DEFAULT_MAX_JOBS
    # No result keys at all: nothing reads arq results (jobs write to the database), and a
    # stored result blocks every later enqueue of the same job id. arq stores one even
    # for a job whose data vanished with a Redis restart ("expired"), which would leave
    # that row unsendable by the sweep for as long as the result is kept.
    keep_result = 0
    health_check_interval = 60

    @staticmethod
    async def on_startup(ctx: dict[str, Any]) -> None:
        settings: Settings = ctx.get("settings") or Settings.from_env()
        ctx.update(await build_context(settings, clock=ctx.get("clock"), redis=ctx["redis"]))
        freeze_startup_heap()

    @staticmethod
    async def on_shutdown(ctx: dict[str, Any]) -> None:
        await close_context(ctx)


def worker_kwargs(settings: Settings, **overrides: Any) -> dict[str, Any]:
    """Keyword arguments of `arq.worker.Worker` for this deployment (tests override some)."""
    max_jobs = int(settings.extra.get("MYMEDIC_WORKER_MAX_JOBS") or DEFAULT_MAX_JOBS)
    kwargs: dict[str, Any] = {
        "functions": WorkerSettings.functions,
        "cron_jobs": WorkerSettings.cron_jobs,
        "redis_settings": arq_settings(settings.redis_url or ""),
        "on_startup": WorkerSettings.on_startup,
        "on_shutdown": WorkerSettings.on_shutdown,
        "job_completion_wait": WorkerSettings.job_completion_wait,
        "poll_delay": WorkerSettings.poll_delay,
        "max_jobs": max_jobs,
        "keep_result": WorkerSettings.keep_result,
        "health_check_interval": WorkerSettings.health_check_interval,
        "ctx": {"settings": settings},
        "timezone": dt.timezone.utc,
    }
    kwargs.update(overrides)
    return kwargs


async def _abandon(worker: Worker) -> None:
    """Stop what a dead worker left running on this loop, then close its context.

    Its job tasks would otherwise wake up on the next worker's loop; cancelled, each
    gives its outbound row back (lease released) so the sweep can send it at once.
    """
    for task in worker.job_tasks.values():
        task.cancel()
    pending = [t for t in worker.tasks.values() if not t.done()]
    if pending:
        await asyncio.wait(pending, timeout=ABANDON_TIMEOUT_S)
    await close_context(worker.ctx)


def run_worker(settings: Settings, **worker_overrides: Any) -> int:
    """Run the arq worker on `settings.redis_url` until SIGTERM/SIGINT; returns an exit code.

    When Redis goes away (restart, failover) arq's worker dies with a connection error;
    we start a fresh one (it reconnects with retries) instead of leaving the queue
    unserved. Jobs lost with Redis's data are re-enqueued by the sweep.
    """
    if not settings.redis_url:
        raise ValueError("settings.redis_url is required")
    delay_s = 1.0
    while True:
        log.info("worker starting")
        worker = Worker(**worker_kwargs(settings, **worker_overrides))
        try:
            worker.run()
        except (RedisError, ConnectionError) as exc:
            log.warning("worker lost redis (%s); starting again in %.0fs", type(exc).__name__, delay_s)
            worker.loop.run_until_complete(_abandon(worker))
            time.sleep(delay_s)
            delay_s = min(delay_s * 2, MAX_RESTART_DELAY_S)
            continue
        log.info("worker stopped: %d complete, %d failed, %d retried",
                 worker.jobs_complete, worker.jobs_failed, worker.jobs_retried)
        return 0
