"""A rate limiter in Redis, shared by every worker process: GCRA with reservations.

Each caller atomically reserves the next free slot(s) of a key (a sender number, or one
recipient for bulk pacing) and sleeps until it. Slots are `1/rate` apart, so the
aggregate rate can never exceed the limit, however many workers share the key. When
the queue ahead is longer than the caller is willing to wait, no slot is taken and
the caller is told how long to come back after (the job then retries with a defer).

A wave of scheduled sends (thousands of reminders due at once) must not reserve the
sender's slots minutes ahead: a conversation reply would queue behind all of them.
So a wave first books *turns* on a lane of its own (`turn`), which only tells each batch
when to come back; the batch reserves its real sender slots when its turn comes, and
the sender key never holds more than a batch or two of reservations.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import secrets
from dataclasses import dataclass

from redis.asyncio import Redis

from bot.outbox.keys import RATE_KEY_PREFIX, WINDOW_KEY_PREFIX

# KEYS[1]: theoretical arrival time (µs). ARGV: interval µs, max wait µs, slots wanted.
# Grants as many of the wanted slots as start within the max wait (all or some).
# Redis TIME is the one clock every worker agrees on.
_RESERVE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local wait = tat - now
local interval = tonumber(ARGV[1])
if wait > tonumber(ARGV[2]) then return {0, wait} end
local n = math.min(tonumber(ARGV[3]), math.floor((tonumber(ARGV[2]) - wait) / interval) + 1)
local new_tat = tat + n * interval
redis.call('SET', KEYS[1], string.format('%.0f', new_tat), 'PX', math.ceil((new_tat - now) / 1000) + 1000)
return {n, wait}
"""


@dataclass(frozen=True, slots=True)
class Slots:
    """`granted` consecutive slots, the first `first_wait_s` from now, `interval_s` apart.
    With none granted, `retry_after_s` says when to ask again."""

    granted: int
    first_wait_s: float
    interval_s: float

    @property
    def retry_after_s(self) -> float:
        return max(self.first_wait_s, 0.001)

    def wait_s(self, i: int) -> float:
        """Seconds from the reservation until the `i`-th granted slot (0-based)."""
        return self.first_wait_s + i * self.interval_s


class RateLimiter:
    """Reserve send slots per key at a rate; see the module docstring."""

    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._script = redis.register_script(_RESERVE)

    async def reserve(self, key: str, *, per_s: float, max_wait_s: float) -> float:
        """Wait for this caller's slot and return 0.0, or return the seconds to come back
        after when the wait would exceed `max_wait_s` (nothing reserved then)."""
        slots = await self.reserve_many(key, 1, per_s=per_s, max_wait_s=max_wait_s)
        if not slots.granted:
            return slots.retry_after_s
        if slots.first_wait_s > 0:
            await asyncio.sleep(slots.first_wait_s)
        return 0.0

    async def reserve_many(self, key: str, count: int, *, per_s: float, max_wait_s: float) -> Slots:
        """Reserve up to `count` consecutive slots whose start is within `max_wait_s`; no
        sleeping (the caller spaces its sends by `Slots.wait_s`)."""
        if per_s <= 0 or count <= 0:
            return Slots(max(count, 0), 0.0, 0.0)
        interval_us = max(1, math.ceil(1_000_000 / per_s))
        granted, wait_us = await self._script(
            keys=[RATE_KEY_PREFIX + key], args=[interval_us, int(max_wait_s * 1_000_000), count]
        )
        return Slots(int(granted), int(wait_us) / 1_000_000, interval_us / 1_000_000)

    async def turn(self, lane: str, count: int, *, per_s: float) -> float:
        """Book the next `count` slots of a wave's lane, however far ahead; returns the
        seconds until the booked turn starts (the batch is deferred until then)."""
        slots = await self.reserve_many(f"lane:{lane}", count, per_s=per_s, max_wait_s=1e9)
        return slots.first_wait_s


# KEYS[1]: a sorted set of the sender's send starts (µs, Redis TIME). ARGV: most sends in
# any one second, least gap µs between two, this send's unique member. Returns 0 with the
# send noted, or the µs to wait before asking again (nothing noted).
_PACE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local most, gap = tonumber(ARGV[1]), tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - 1000000)
local n = redis.call('ZCARD', KEYS[1])
local ready = now
if n >= most then
  ready = tonumber(redis.call('ZRANGE', KEYS[1], n - most, n - most, 'WITHSCORES')[2]) + 1000000
end
if n > 0 then
  ready = math.max(ready, tonumber(redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')[2]) + gap)
end
if ready > now then return math.ceil(ready - now) end
redis.call('ZADD', KEYS[1], now, ARGV[3])
redis.call('PEXPIRE', KEYS[1], 2000)
return 0
"""


class SendPacer:
    """Keeps any one second of all processes' sends to a sender within the rate.

    The Redis slots above bound the average, but a send sleeps until its slot, and when
    an event loop is busy several sleepers wake late together; two worker processes can
    catch up at the same moment. Catching up is fine (their slots were reserved), bunching
    over the limit is not: a send here waits until fewer than `rate` sends to its sender,
    from any process, started in the last second (a sliding window kept in Redis, so no
    second, however aligned, holds more) and a quarter interval after the previous one.
    A process's sends ask one at a time (a FIFO lock per sender), so only the next waiter
    polls Redis.
    """

    def __init__(self, redis: Redis) -> None:
        self._script = redis.register_script(_PACE)
        self._locks: dict[str, asyncio.Lock] = {}
        self._token = secrets.token_hex(6)  # this pacer's sends, told apart from other processes'
        self._numbers = itertools.count()

    async def wait(self, key: str, *, per_s: float) -> None:
        """Return when this caller may start its send to `key` (call right before it)."""
        if per_s <= 0:
            return
        most = max(int(per_s), 1)
        gap_us = int(250_000 / per_s)
        async with self._locks.setdefault(key, asyncio.Lock()):
            member = f"{self._token}:{next(self._numbers)}"
            while True:
                wait_us = int(await self._script(keys=[WINDOW_KEY_PREFIX + key], args=[most, gap_us, member]))
                if wait_us <= 0:
                    return
                await asyncio.sleep(wait_us / 1_000_000)
