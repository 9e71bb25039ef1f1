"""The worker process killed (SIGKILL) at each step of a send, drained by SIGTERM, and
Redis restarted under load. Each test runs its own Redis server in a temporary
directory; the worker is a real child process; sends are counted at the emulator."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from arq.connections import ArqRedis, create_pool
from arq.constants import default_queue_name, in_progress_key_prefix
from sqlalchemy import func, select, update

from bot.embedded_redis import EmbeddedRedis
from bot.outbox import api
from bot.outbox.keys import send_job_id
from bot.outbox.models import OutboundMessage, OutboundState
from bot.redis_conn import arq_settings
from outbox_helpers import WA_USER, eventually, open_window, queue, row, start_worker

WAIT_S = 60


@pytest.fixture
async def own_redis(tmp_path: Path) -> AsyncIterator[EmbeddedRedis]:
    server = EmbeddedRedis(tmp_path / "own-redis", persistent=False)
    server.start()
    yield server
    server.stop()


@pytest.fixture
async def own_arq(own_redis: EmbeddedRedis) -> AsyncIterator[ArqRedis]:
    pool = await create_pool(arq_settings(own_redis.url))
    yield pool
    await pool.aclose()


async def _exit_code(proc: asyncio.subprocess.Process) -> int:
    return await asyncio.wait_for(proc.wait(), WAIT_S)


async def _kill_then_recover(emulator, db, clock, own_redis, own_arq, tmp_path, point: str) -> int:  # noqa: ANN001
    """Kill the worker at `point` of a send, restart it; returns the sends counted at the kill."""
    await open_window(db, emulator.settings, clock.now)
    oid = await queue(db, key=f"k-kill-{point}")
    await api.enqueue_sends(own_arq, [oid])
    marker = tmp_path / "killed"
    proc = await start_worker(emulator.settings, own_redis.url, KILL_AT=point, KILL_MARKER=str(marker))
    assert await _exit_code(proc) == -signal.SIGKILL
    assert marker.read_text() == f"{point}:{oid}"
    # arq keeps the job queued; its in-progress marker, like the row's lease, would expire
    # after the job timeout (+10 s). Expire both now instead of waiting that long.
    assert await own_arq.delete(in_progress_key_prefix + send_job_id(oid)) == 1
    async with db() as session, session.begin():
        await session.execute(update(OutboundMessage).where(OutboundMessage.id == oid).values(lease_until=None))
    before = await emulator.count("whatsapp", WA_USER)
    proc = await start_worker(emulator.settings, own_redis.url, BURST="1", KILL_MARKER=str(marker))
    assert await _exit_code(proc) == 0
    stored = await row(db, oid)
    assert stored.status != OutboundState.QUEUED and stored.provider_message_id
    return before


async def test_killed_before_the_provider_call_sends_exactly_once(emulator, db, clock, own_redis, own_arq, tmp_path) -> None:
    before = await _kill_then_recover(emulator, db, clock, own_redis, own_arq, tmp_path, "before_send")
    assert before == 0
    assert await emulator.count("whatsapp", WA_USER) == 1


async def test_killed_after_the_commit_sends_exactly_once(emulator, db, clock, own_redis, own_arq, tmp_path) -> None:
    before = await _kill_then_recover(emulator, db, clock, own_redis, own_arq, tmp_path, "after_commit")
    assert before == 1
    assert await emulator.count("whatsapp", WA_USER) == 1


async def test_killed_inside_the_provider_call_still_delivers(emulator, db, clock, own_redis, own_arq, tmp_path) -> None:
    # The provider accepted, our commit never happened: at-least-once. The retry skips when
    # a status carrying our key arrived meanwhile (the emulator sends them at once).
    before = await _kill_then_recover(emulator, db, clock, own_redis, own_arq, tmp_path, "after_send")
    assert before == 1
    assert 1 <= await emulator.count("whatsapp", WA_USER) <= 2


async def test_sigterm_drains_in_flight_jobs_and_loses_none(emulator, db, clock, own_redis, own_arq, tmp_path) -> None:
    await open_window(db, emulator.settings, clock.now)
    first = await queue(db, key="k-drain-1")
    second = await queue(db, key="k-drain-2")
    await api.enqueue_sends(own_arq, [first, second])
    started = tmp_path / "started"
    proc = await start_worker(emulator.settings, own_redis.url, STARTED=str(started), STALL_S="1.5",
                              MYMEDIC_WORKER_MAX_JOBS="1")
    await eventually(lambda: asyncio.sleep(0, started.exists()), attempts=600)
    in_flight = int(started.read_text())
    proc.send_signal(signal.SIGTERM)
    assert await _exit_code(proc) == 0
    assert (await row(db, in_flight)).provider_message_id is not None  # finished, not cut off
    assert await emulator.count("whatsapp", WA_USER) == 1
    waiting = second if in_flight == first else first
    assert (await row(db, waiting)).status == OutboundState.QUEUED
    assert await own_arq.zscore(default_queue_name, send_job_id(waiting)) is not None  # still queued
    proc = await start_worker(emulator.settings, own_redis.url, BURST="1")
    assert await _exit_code(proc) == 0
    assert await emulator.count("whatsapp", WA_USER) == 2


async def test_redis_restarted_under_load_loses_nothing(emulator, db, clock, own_redis, own_arq, tmp_path) -> None:
    users = [f"91980000{i:04d}" for i in range(40)]
    ids = []
    for i, user in enumerate(users):
        await open_window(db, emulator.settings, clock.now, user=user)
        ids.append(await queue(db, key=f"k-load-{i}", recipient=user))
    await api.enqueue_sends(own_arq, ids)
    proc = await start_worker(emulator.settings, own_redis.url)

    async def some_sent() -> bool:
        async with db() as session:
            n = await session.scalar(select(func.count()).select_from(OutboundMessage)
                                     .where(OutboundMessage.provider_message_id.is_not(None)))
        return n >= 3

    await eventually(some_sent, attempts=600)
    own_redis.stop()      # Redis goes away mid-run, with every queued job (no persistence)
    own_redis.start()
    pool = await create_pool(arq_settings(own_redis.url))
    try:
        async def all_sent() -> bool:
            # What the per-minute cron does, ticked faster: rows whose retry was due later
            # than one sweep are picked up by a later one.
            await pool.enqueue_job("sweep_outbox")
            async with db() as session:
                left = (await session.execute(select(OutboundMessage.id, OutboundMessage.lease_until,
                                                     OutboundMessage.due_at, OutboundMessage.attempts)
                                              .where(OutboundMessage.status == OutboundState.QUEUED))).all()
            return not left

        # A row whose run died with the old worker is held by its lease until that runs
        # out (job timeout + 10 s); the sweep sends it then.
        await eventually(all_sent, attempts=300, pause_s=0.5)
    finally:
        await pool.aclose()
        proc.send_signal(signal.SIGTERM)
    assert await _exit_code(proc) == 0  # the worker outlived the Redis restart
    counts = [await emulator.count("whatsapp", user) for user in users]
    assert min(counts) >= 1
    # a send cut off between the provider's answer and our commit may repeat, nothing else
    assert sum(counts) <= len(users) + 10
