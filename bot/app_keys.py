"""Typed application keys: how handlers find shared resources (no module globals)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from aiohttp import web
from arq.connections import ArqRedis
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.config import Settings

SETTINGS = web.AppKey("settings", Settings)
ENGINE = web.AppKey("engine", AsyncEngine)
SESSIONMAKER: web.AppKey[async_sessionmaker[AsyncSession]] = web.AppKey("sessionmaker")
REDIS = web.AppKey("redis", Redis)
ARQ = web.AppKey("arq", ArqRedis)
# Services assembled from the above (booking service, dispatcher, senders …) by their own setup().
SERVICES: web.AppKey[dict[str, Any]] = web.AppKey("services")
# Optional: the clock the web edge reads (tests move it by hand); absent = real UTC time.
CLOCK: web.AppKey[Callable[[], dt.datetime]] = web.AppKey("clock")
