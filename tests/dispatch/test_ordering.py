"""The per-user FIFO + lock and the flood bucket, against a real Redis."""

from __future__ import annotations

import asyncio

from redis.asyncio import Redis

from bot.dispatch.keys import LOCK_PREFIX, QUEUE_PREFIX
from bot.dispatch.ordering import UserSerializer
from bot.dispatch.ratelimit import InboundRateLimiter


async def test_items_of_one_user_run_one_at_a_time_in_arrival_order(redis: Redis) -> None:
    serializer = UserSerializer(redis)
    handled: list[bytes] = []
    running = 0
    overlap = False

    async def process(payload: bytes) -> bool:
        nonlocal running, overlap
        running += 1
        overlap = overlap or running > 1
        await asyncio.sleep(0)  # let the other waiters try to barge in
        handled.append(payload)
        running -= 1
        return True

    tickets = [await serializer.enqueue("whatsapp:1:u", str(i).encode()) for i in range(30)]
    assert [t.seq for t in tickets] == list(range(1, 31))
    results = await asyncio.gather(*(serializer.wait(t, process) for t in reversed(tickets)))
    assert all(results)
    assert handled == [str(i).encode() for i in range(30)]
    assert not overlap
    assert await redis.exists(LOCK_PREFIX + "whatsapp:1:u") == 0


async def test_a_failed_item_is_reported_and_the_queue_moves_on(redis: Redis) -> None:
    serializer = UserSerializer(redis)

    async def process(payload: bytes) -> bool:
        if payload == b"bad":
            raise RuntimeError("boom")
        return True

    tickets = [await serializer.enqueue("sms:1:u", p) for p in (b"a", b"bad", b"c")]
    assert await asyncio.gather(*(serializer.wait(t, process) for t in tickets)) == [True, False, True]


async def test_an_item_lost_with_a_dead_holder_is_not_acknowledged(redis: Redis) -> None:
    serializer = UserSerializer(redis, lock_ttl_ms=200)
    ticket = await serializer.enqueue("sms:1:dead", b"x")
    # A holder takes the item and dies before giving a verdict (its lock expires).
    await redis.set(LOCK_PREFIX + "sms:1:dead", b"other", px=200)
    assert await redis.lpop(QUEUE_PREFIX + "sms:1:dead")

    async def process(payload: bytes) -> bool:
        raise AssertionError("nothing left to process")

    assert await serializer.wait(ticket, process) is False


async def test_flood_bucket(redis: Redis) -> None:
    limiter = InboundRateLimiter(redis, burst=3, refill_per_s=0.001)
    assert [await limiter.allow("whatsapp:1:x") for _ in range(5)] == [True, True, True, False, False]
    assert await limiter.allow("whatsapp:1:y") is True
    assert await limiter.first_warning("whatsapp:1:x") is True
    assert await limiter.first_warning("whatsapp:1:x") is False


async def test_the_holder_hands_over_to_the_next_waiter(redis: Redis) -> None:
    # No polling (a poll would outlast the wait): only the holder's hand-over on release
    # can move the queue along, so every wait succeeding proves the wake-up works.
    serializer = UserSerializer(redis, poll_s=30.0, wait_timeout_s=5.0)
    order: list[bytes] = []

    async def process(payload: bytes) -> bool:
        order.append(payload)
        return True

    tickets = [await serializer.enqueue("whatsapp:1:w", f"m{i}".encode()) for i in range(5)]
    results = await asyncio.gather(*(serializer.wait(t, process) for t in tickets))
    assert results == [True] * 5
    assert order == [f"m{i}".encode() for i in range(5)]
