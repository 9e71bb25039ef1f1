"""Per-user inbound flood limit: a token bucket in Redis (shared by every web process)."""

from __future__ import annotations

import math
import time

from redis.asyncio import Redis

from bot.dispatch.keys import BUCKET_PREFIX, WARNED_PREFIX

# Refill by elapsed time, then take one token if there is one. Timestamps come from the
# caller (scripts that read TIME and then write need effects replication on Redis 6).
_TAKE = """
local cap = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
local b = redis.call('HMGET', KEYS[1], 't', 'ts')
local tokens = tonumber(b[1])
local ts = tonumber(b[2])
if tokens == nil or ts == nil then tokens = cap; ts = now end
if now > ts then tokens = math.min(cap, tokens + (now - ts) * rate) end
local allowed = 0
if tokens >= 1 then tokens = tokens - 1; allowed = 1 end
redis.call('HSET', KEYS[1], 't', tostring(tokens), 'ts', tostring(math.max(now, ts)))
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return allowed
"""


class InboundRateLimiter:
    """`burst` messages at once, then `refill_per_s` per second, per user."""

    def __init__(self, redis: Redis, *, burst: int, refill_per_s: float) -> None:
        if burst < 1 or refill_per_s <= 0:
            raise ValueError("burst must be >= 1 and refill_per_s > 0")
        self._redis = redis
        self._burst = burst
        self._refill_per_s = refill_per_s
        self._take = redis.register_script(_TAKE)
        # The bucket is full again after this long; its key may vanish then.
        self._full_after_ms = int(math.ceil(burst / refill_per_s * 1000)) + 1000

    async def allow(self, user_key: str) -> bool:
        """Take a token for one message from this user; False when the bucket is empty."""
        allowed = await self._take(
            keys=[BUCKET_PREFIX + user_key],
            args=[self._burst, self._refill_per_s, f"{time.time():.6f}", self._full_after_ms],
        )
        return bool(allowed)

    async def first_warning(self, user_key: str) -> bool:
        """True only the first time per flood: the caller then says "slow down" once."""
        return bool(await self._redis.set(WARNED_PREFIX + user_key, b"1", nx=True, px=self._full_after_ms))
