"""Connections to Redis: a redis-py client and arq settings from one URL (tcp or unix socket)."""

from __future__ import annotations

from arq.connections import RedisSettings
from redis.asyncio import Redis


def redis_client(url: str) -> Redis:
    """A redis-py asyncio client for `url` (redis://, rediss:// or unix://)."""
    return Redis.from_url(url, decode_responses=False, health_check_interval=30)


def arq_settings(url: str) -> RedisSettings:
    """arq's connection settings for the same URL; arq understands unix:// paths itself."""
    settings = RedisSettings.from_dsn(url)
    settings.conn_timeout = 5
    settings.conn_retries = 10
    settings.conn_retry_delay = 1
    return settings
