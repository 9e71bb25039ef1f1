"""The Redis rate limiter shared by worker processes, and per-recipient pacing of bulk sends."""

from __future__ import annotations

import asyncio
import bisect

from arq.constants import default_queue_name

from bot.outbox import api
from bot.outbox.keys import send_job_id
from bot.outbox.limits import RateLimiter, SendPacer
from bot.outbox.models import OutboundState
from bot.redis_conn import redis_client
from outbox_helpers import WA_USER, open_window, queue, row, run_burst


async def test_slots_are_handed_out_one_interval_apart(redis) -> None:
    limiter = RateLimiter(redis)
    # 1 per 10 s: the first caller goes at once, the next is told how long to come back after
    assert await limiter.reserve("sender:a", per_s=0.1, max_wait_s=0) == 0.0
    retry_after = await limiter.reserve("sender:a", per_s=0.1, max_wait_s=0)
    assert 9.0 < retry_after <= 10.0
    assert await limiter.reserve("sender:b", per_s=0.1, max_wait_s=0) == 0.0  # keys are independent


async def test_processes_share_one_budget(redis_url, redis) -> None:
    # Two limiters on two connections stand for two worker processes.
    other = redis_client(redis_url)
    try:
        a, b = RateLimiter(redis), RateLimiter(other)
        results = await asyncio.gather(*[lim.reserve("sender:shared", per_s=0.1, max_wait_s=0)
                                         for lim in (a, b, a, b)])
    finally:
        await other.aclose()
    assert sorted(r == 0.0 for r in results) == [False, False, False, True]


async def test_bulk_sends_are_paced_per_recipient(ctx, emulator, db, clock) -> None:
    await open_window(db, emulator.settings, clock.now)
    first = await queue(db, key="k-bulk-1", purpose="campaign")
    second = await queue(db, key="k-bulk-2", purpose="campaign")
    reply = await queue(db, key="k-bulk-3", purpose="reply")  # a conversation reply is never paced
    await api.enqueue_sends(ctx["redis"], [first, second, reply])
    await run_burst(ctx, max_jobs=3)
    assert await emulator.count("whatsapp", WA_USER) == 2
    paced = [oid for oid in (first, second) if (await row(db, oid)).status == OutboundState.QUEUED]
    assert len(paced) == 1
    score = await ctx["redis"].zscore(default_queue_name, send_job_id(paced[0]))
    assert score is not None  # deferred in the queue, not dropped
    assert (await row(db, paced[0])).attempts == 0  # pacing is not a provider failure


def _busiest_second(starts: list[float]) -> int:
    """The most sends in any one-second window, however aligned."""
    starts = sorted(starts)
    return max(bisect.bisect_left(starts, t + 1.0) - i for i, t in enumerate(starts))


async def test_the_pacer_keeps_every_second_within_the_rate_when_sends_wake_together(redis) -> None:
    pacer = SendPacer(redis)
    loop = asyncio.get_running_loop()
    starts: list[float] = []

    async def send() -> None:
        await pacer.wait("sender:p", per_s=20)
        starts.append(loop.time())

    # 60 sends whose slots all passed while the loop was busy: they wake together.
    await asyncio.gather(*(send() for _ in range(60)))
    starts.sort()
    assert _busiest_second(starts) == 20  # no one-second window, however aligned, holds more than the rate
    assert min(b - a for a, b in zip(starts, starts[1:])) >= 0.25 / 20 - 0.001  # never a burst
    assert 2.0 <= starts[-1] - starts[0] < 2.6  # caught up as fast as the rate allows


async def test_worker_processes_share_the_pacers_window(redis_url, redis) -> None:
    # Two pacers on two connections stand for two worker processes catching up at once:
    # each alone would let 20 through in a second, together they still let 20.
    other = redis_client(redis_url)
    loop = asyncio.get_running_loop()
    starts: list[float] = []

    async def send(pacer: SendPacer) -> None:
        await pacer.wait("sender:shared", per_s=20)
        starts.append(loop.time())

    try:
        pacers = (SendPacer(redis), SendPacer(other))
        await asyncio.gather(*(send(pacers[i % 2]) for i in range(50)))
    finally:
        await other.aclose()
    assert _busiest_second(starts) == 20
    assert 1.9 <= max(starts) - min(starts) < 2.6  # 50 at 20 per second, not 50 at 40
