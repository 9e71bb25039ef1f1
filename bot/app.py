"""The aiohttp application: `create_app(settings)` wires resources by name.

Resources are opened and closed in `cleanup_ctx` order (database, Redis, arq pool);
each feature package contributes its routes through a `setup(app)` function.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

from aiohttp import web
from arq.connections import ArqRedis
from sqlalchemy import text

from bot.app_keys import ARQ, ENGINE, REDIS, SERVICES, SESSIONMAKER, SETTINGS
from bot.config import Settings
from bot.db import make_engine, make_sessionmaker
from bot.redis_conn import redis_client

log = logging.getLogger(__name__)

HEALTH_TIMEOUT_S = 2.0


async def _database_ctx(app: web.Application) -> AsyncIterator[None]:
    engine = make_engine(app[SETTINGS].database_url)
    app[ENGINE] = engine
    app[SESSIONMAKER] = make_sessionmaker(engine)
    yield
    await engine.dispose()


async def _redis_ctx(app: web.Application) -> AsyncIterator[None]:
    url = app[SETTINGS].redis_url
    if not url:
        raise RuntimeError("create_app needs settings.redis_url (start the embedded Redis first)")
    app[REDIS] = redis_client(url)
    # Built without a round trip: the app starts (and /healthz says why it is unhealthy)
    # even while Redis is still coming up.
    app[ARQ] = ArqRedis.from_url(url)
    yield
    await app[ARQ].aclose()
    await app[REDIS].aclose()


async def healthz(request: web.Request) -> web.Response:
    """200 only when both the database and Redis answer."""
    app = request.app
    checks: dict[str, str] = {}

    async def db() -> None:
        async with app[ENGINE].connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def redis() -> None:
        await app[REDIS].ping()

    for name, probe in (("database", db), ("redis", redis)):
        try:
            await asyncio.wait_for(probe(), HEALTH_TIMEOUT_S)
            checks[name] = "ok"
        except Exception as exc:  # noqa: BLE001 - any failure means "not healthy"
            log.warning("health check %s failed: %s", name, type(exc).__name__)
            checks[name] = "down"
    healthy = all(v == "ok" for v in checks.values())
    return web.json_response({"status": "ok" if healthy else "down", **checks}, status=200 if healthy else 503)


def create_app(settings: Settings) -> web.Application:
    """Build the web application for `settings` (its `redis_url` must be set)."""
    app = web.Application(client_max_size=1024 * 1024)
    app[SETTINGS] = settings
    app[SERVICES] = {}
    app.cleanup_ctx.append(_database_ctx)
    app.cleanup_ctx.append(_redis_ctx)
    app.router.add_get("/healthz", healthz)
    _setup_features(app, settings)
    return app


def _setup_features(app: web.Application, settings: Settings) -> None:
    """Let each feature package add its routes and resources (imported lazily on purpose:
    a feature that is not built yet must not stop the app from starting)."""
    from bot import features  # noqa: PLC0415

    features.setup(app, settings)
