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
import math
from collections import deque
from dataclasses import dataclass

from redis.asyncio import Redis

from bot.outbox.keys import RATE_KEY_PREFIX

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


class SendPacer:
    """Keeps any one second of one process's sends to a sender within the rate.

    The Redis slots above bound the average, but a send sleeps until its slot, and when
    the event loop is busy several sleepers wake late together. Catching up is fine (their
    slots were reserved), bunching over the limit is not: a send here waits until fewer
    than `rate` sends left in the last second (a sliding window, so no second, however
    aligned, holds more) and a quarter interval after the previous one. Sends pass one at
    a time (a FIFO lock per sender), so only the next waiter ever wakes.
    """

    def __init__(self) -> None:
        self._sent: dict[str, deque[float]] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def wait(self, key: str, *, per_s: float) -> None:
        """Return when this caller may start its send to `key` (call right before it)."""
        if per_s <= 0:
            return
        loop = asyncio.get_running_loop()
        most = max(int(per_s), 1)
        min_gap_s = 0.25 / per_s
        async with self._locks.setdefault(key, asyncio.Lock()):
            sent = self._sent.setdefault(key, deque())
            while True:
                now = loop.time()
                while sent and sent[0] <= now - 1.0:
                    sent.popleft()
                ready = now
                if len(sent) >= most:
                    ready = max(ready, sent[-most] + 1.0)
                if sent:
                    ready = max(ready, sent[-1] + min_gap_s)
                if ready <= now:
                    break
                await asyncio.sleep(ready - now)
            sent.append(loop.time())
