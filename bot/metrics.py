"""Prometheus metrics: one registry per app (never the process-global one) and `/metrics`.

Two kinds of metric live here:
- `Metrics`: in-process instruments of the web process (webhook ack latency, turns,
  inbound outcomes), created on the app's own `CollectorRegistry`.
- `SharedCounters`: counts kept in Redis by whichever process does the work (sends and
  send errors happen in arq workers), rendered by every web process at scrape time, so
  one scrape shows the whole deployment. Workers call `SharedCounters(redis).sent(...)`.

Gauges that describe shared state (arq queue depth, dead letters) are read when scraped.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector
from redis.asyncio import Redis

from bot.config import Settings

log = logging.getLogger(__name__)

NAMESPACE = "mymedic"
SENDS_KEY = "mm:metrics:sends"           # hash "{channel}|{outcome}" -> count
SEND_ERRORS_KEY = "mm:metrics:send_errors"  # hash "{channel}|{code}" -> count
ACK_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

Probe = Callable[[], Awaitable[None]]


class Metrics:
    """The in-process instruments of one web app, on `registry`."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry(auto_describe=True)
        r = self.registry
        self.webhook_ack_seconds = Histogram(
            "webhook_ack_seconds", "Time from webhook arrival to our answer.", ["channel", "status"],
            namespace=NAMESPACE, registry=r, buckets=ACK_BUCKETS_S,
        )
        self.turns = Counter(
            "turns", "Conversation turns run, by outcome (ok, error).", ["channel", "outcome"],
            namespace=NAMESPACE, registry=r,
        )
        self.inbound = Counter(
            "inbound_messages", "Inbound messages by what became of them "
            "(handled, duplicate, unknown_account, rate_limited, handoff, opt_out, opt_in, failed).",
            ["channel", "result"], namespace=NAMESPACE, registry=r,
        )
        self.queue_depth = Gauge(
            "queue_depth", "Jobs waiting in the arq queue.", namespace=NAMESPACE, registry=r,
        )
        self.dead_letters = Gauge(
            "dead_letters", "Sends that exhausted their retries and were not replayed.",
            namespace=NAMESPACE, registry=r,
        )
        self.probes: list[Probe] = []

    def add_probe(self, probe: Probe) -> None:
        """Run `probe` before each scrape (to refresh gauges of shared state)."""
        self.probes.append(probe)


class SharedCounters:
    """Deployment-wide send counters in Redis, incremented by the process that sends."""

    def __init__(self, redis: Redis) -> None:
        self._redis = redis

    async def sent(self, channel: str, outcome: str = "sent", count: int = 1) -> None:
        """Count `count` send attempts' outcome (sent, failed, suppressed, fallback …)."""
        await self._redis.hincrby(SENDS_KEY, f"{channel}|{outcome}", count)

    async def error(self, channel: str, code: int | str | None) -> None:
        """Count one provider error by its code ("none" when the provider gave none)."""
        await self._redis.hincrby(SEND_ERRORS_KEY, f"{channel}|{code if code is not None else 'none'}", 1)

    async def snapshot(self) -> tuple[dict[tuple[str, str], int], dict[tuple[str, str], int]]:
        """(sends by (channel, outcome), errors by (channel, code))."""

        def split(raw: dict[bytes, bytes]) -> dict[tuple[str, str], int]:
            out: dict[tuple[str, str], int] = {}
            for k, v in raw.items():
                channel, _, label = k.decode().partition("|")
                out[(channel, label)] = int(v)
            return out

        return split(await self._redis.hgetall(SENDS_KEY)), split(await self._redis.hgetall(SEND_ERRORS_KEY))


class _SnapshotCollector(Collector):
    """Renders the last Redis snapshot of the shared counters (refreshed before each scrape)."""

    def __init__(self) -> None:
        self.sends: dict[tuple[str, str], int] = {}
        self.errors: dict[tuple[str, str], int] = {}

    def collect(self) -> Iterable[CounterMetricFamily]:
        sends = CounterMetricFamily(f"{NAMESPACE}_sends", "Sends by channel and outcome.",
                                    labels=["channel", "outcome"])
        for (channel, outcome), value in sorted(self.sends.items()):
            sends.add_metric([channel, outcome], value)
        errors = CounterMetricFamily(f"{NAMESPACE}_send_errors", "Provider send errors by code.",
                                     labels=["channel", "code"])
        for (channel, code), value in sorted(self.errors.items()):
            errors.add_metric([channel, code], value)
        return [sends, errors]


METRICS = web.AppKey("metrics", Metrics)
_SHARED = web.AppKey("metrics_shared", _SnapshotCollector)


async def _arq_queue_depth(app: web.Application) -> None:
    from arq.constants import default_queue_name  # noqa: PLC0415

    from bot.app_keys import REDIS  # noqa: PLC0415

    app[METRICS].queue_depth.set(await app[REDIS].zcard(default_queue_name))


async def _dead_letters(app: web.Application) -> None:
    try:
        from bot.outbox.models import DeadLetter  # noqa: PLC0415
    except ImportError:
        return
    from sqlalchemy import func, select  # noqa: PLC0415

    from bot.app_keys import SESSIONMAKER  # noqa: PLC0415

    async with app[SESSIONMAKER]() as session:
        count = await session.scalar(
            select(func.count()).select_from(DeadLetter).where(DeadLetter.replayed_at.is_(None))
        )
    app[METRICS].dead_letters.set(int(count or 0))


async def metrics_view(request: web.Request) -> web.Response:
    """The Prometheus text exposition of this app's registry."""
    from bot.app_keys import REDIS  # noqa: PLC0415

    app = request.app
    metrics = app[METRICS]
    for probe in (lambda: _arq_queue_depth(app), lambda: _dead_letters(app), *metrics.probes):
        try:
            await probe()
        except Exception as exc:  # noqa: BLE001 - a broken probe must not break the scrape
            log.warning("metrics probe failed: %s", type(exc).__name__)
    try:
        app[_SHARED].sends, app[_SHARED].errors = await SharedCounters(app[REDIS]).snapshot()
    except Exception as exc:  # noqa: BLE001
        log.warning("shared counters unavailable: %s", type(exc).__name__)
    body = generate_latest(metrics.registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


def setup(app: web.Application, settings: Settings) -> None:
    """Create the app's registry and instruments and serve `GET /metrics`."""
    metrics = Metrics()
    shared = _SnapshotCollector()
    metrics.registry.register(shared)
    app[METRICS] = metrics
    app[_SHARED] = shared
    app.router.add_get("/metrics", metrics_view)
