"""A rate limiter in Redis, shared by every worker process: GCRA with reservations.

Each caller atomically reserves the next free slot of a key (a sender number, or one
recipient for bulk pacing) and sleeps until it. Slots are `1/rate` apart, so the
aggregate rate can never exceed the limit, however many workers share the key. When
the queue ahead is longer than the caller is willing to wait, no slot is taken and
the caller is told how long to come back after (the job then retries with a defer).
"""

from __future__ import annotations

import asyncio
import math

from redis.asyncio import Redis

from bot.outbox.keys import RATE_KEY_PREFIX

# KEYS[1]: theoretical arrival time (µs). ARGV: interval µs, max wait µs.
# Redis TIME is the one clock every worker agrees on.
_RESERVE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local wait = tat - now
if wait > tonumber(ARGV[2]) then return {0, wait} end
local new_tat = tat + tonumber(ARGV[1])
redis.call('SET', KEYS[1], string.format('%.0f', new_tat), 'PX', math.ceil((new_tat - now) / 1000) + 1000)
return {1, wait}
"""


class RateLimiter:
    """Reserve send slots per key at a rate; see the module docstring."""

    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._script = redis.register_script(_RESERVE)

    async def reserve(self, key: str, *, per_s: float, max_wait_s: float) -> float:
        """Wait for this caller's slot and return 0.0, or return the seconds to come back
        after when the wait would exceed `max_wait_s` (nothing reserved then)."""
        if per_s <= 0:
            return 0.0
        interval_us = max(1, math.ceil(1_000_000 / per_s))
        granted, wait_us = await self._script(
            keys=[RATE_KEY_PREFIX + key], args=[interval_us, int(max_wait_s * 1_000_000)]
        )
        wait_s = int(wait_us) / 1_000_000
        if not int(granted):
            return max(wait_s, 0.001)
        if wait_s > 0:
            await asyncio.sleep(wait_s)
        return 0.0
