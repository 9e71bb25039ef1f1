"""The worker process killed (SIGKILL) at each step of a send, drained by SIGTERM, and
Redis restarted under load. Each test runs its own Redis server in a temporary
directory; the worker is a real child process; sends are counted at the emulator."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from arq.connections import ArqRedis, create_pool
from arq.constants import default_queue_name, in_progress_key_prefix, job_key_prefix
from sqlalchemy import func, select, update

from bot.embedded_redis import EmbeddedRedis
from bot.outbox import api
from bot.outbox.keys import SEND_BATCH_JOB, send_batch_job_id, send_job_id
from bot.outbox.models import OutboundMessage, OutboundState
from bot.redis_conn import arq_settings
from outbox_helpers import WA_USER, eventually, open_window, queue, row, run_burst, start_worker
from workers.main import build_context, close_context

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


async def _recover(emulator, redis_url: str) -> None:  # noqa: ANN001
    """The next worker: the real send job run by a burst arq worker (in this process, which
    spares a child's start-up) over what the dead worker left in Redis and the database."""
    ctx = await build_context(emulator.settings.with_(redis_url=redis_url))
    try:
        await run_burst(ctx)
    finally:
        await close_context(ctx)


async def _kill_at(emulator, db, clock, own_redis, own_arq, tmp_path,  # noqa: ANN001
                   point: str, user: str) -> tuple[int, int]:
    """Kill the worker at `point` of a send to `user`; returns (row id, sends counted at the kill)."""
    await open_window(db, emulator.settings, clock.now, user=user)
    oid = await queue(db, key=f"k-kill-{point}", recipient=user)
    await api.enqueue_sends(own_arq, [oid])
    marker = tmp_path / f"killed-{point}"
    proc = await start_worker(emulator.settings, own_redis.url, KILL_AT=point, KILL_MARKER=str(marker), NO_CRON="1")
    assert await _exit_code(proc) == -signal.SIGKILL
    assert marker.read_text() == f"{point}:{oid}"
    # arq keeps the job queued; its in-progress marker, like the row's lease, would expire
    # after the job timeout (+10 s). Expire both now instead of waiting that long.
    assert await own_arq.delete(in_progress_key_prefix + send_job_id(oid)) == 1
    async with db() as session, session.begin():
        await session.execute(update(OutboundMessage).where(OutboundMessage.id == oid).values(lease_until=None))
    return oid, await emulator.count("whatsapp", user)


async def _park(arq: ArqRedis, oid: int) -> tuple[str, bytes, float]:
    """Take a killed row's queued arq job out of the queue, as it is, so the next step's
    worker cannot pick it up (`_unpark` puts it back for the recovering worker)."""
    job_id = send_job_id(oid)
    data, score = await arq.get(job_key_prefix + job_id), await arq.zscore(default_queue_name, job_id)
    assert data is not None and score is not None  # arq kept the killed job queued
    await arq.delete(job_key_prefix + job_id)
    await arq.zrem(default_queue_name, job_id)
    return job_id, data, score


async def _unpark(arq: ArqRedis, parked: tuple[str, bytes, float]) -> None:
    job_id, data, score = parked
    await arq.set(job_key_prefix + job_id, data, px=86_400_000)
    await arq.zadd(default_queue_name, {job_id: score})


async def test_killed_at_each_step_of_a_send_then_recovered(emulator, db, clock, own_redis, own_arq, tmp_path) -> None:
    # One kill per step (each a fresh child worker), then one recovering worker for all three
    # rows: a process start costs seconds, so the steps share the recovery.
    users = {"before_send": "919800000101", "after_send": "919800000102", "after_commit": "919800000103"}
    killed: dict[str, tuple[int, int]] = {}
    parked = []
    for point, user in users.items():
        killed[point] = await _kill_at(emulator, db, clock, own_redis, own_arq, tmp_path, point, user)
        parked.append(await _park(own_arq, killed[point][0]))
    for job in parked:
        await _unpark(own_arq, job)
    assert {point: before for point, (_, before) in killed.items()} == {
        "before_send": 0, "after_send": 1, "after_commit": 1}
    await _recover(emulator, own_redis.url)
    for point, (oid, _) in killed.items():
        stored = await row(db, oid)
        assert stored.status != OutboundState.QUEUED and stored.provider_message_id, point
    # Killed before the provider call or after our commit: exactly once.
    assert await emulator.count("whatsapp", users["before_send"]) == 1
    assert await emulator.count("whatsapp", users["after_commit"]) == 1
    # Killed inside it (the provider accepted, our commit never happened): at-least-once. The
    # retry skips when a status carrying our key arrived meanwhile (the emulator sends them at once).
    assert 1 <= await emulator.count("whatsapp", users["after_send"]) <= 2


async def test_sigterm_drains_in_flight_jobs_and_loses_none(emulator, db, clock, own_redis, own_arq, tmp_path) -> None:
    await open_window(db, emulator.settings, clock.now)
    first = await queue(db, key="k-drain-1")
    second = await queue(db, key="k-drain-2")
    await api.enqueue_sends(own_arq, [first, second])
    started = tmp_path / "started"
    proc = await start_worker(emulator.settings, own_redis.url, STARTED=str(started), STALL_S="1.5",
                              MYMEDIC_WORKER_MAX_JOBS="1", NO_CRON="1")
    await eventually(lambda: asyncio.sleep(0, started.exists()), attempts=600)
    in_flight = int(started.read_text())
    proc.send_signal(signal.SIGTERM)
    assert await _exit_code(proc) == 0
    assert (await row(db, in_flight)).provider_message_id is not None  # finished, not cut off
    assert await emulator.count("whatsapp", WA_USER) == 1
    waiting = second if in_flight == first else first
    assert (await row(db, waiting)).status == OutboundState.QUEUED
    assert await own_arq.zscore(default_queue_name, send_job_id(waiting)) is not None  # still queued
    await _recover(emulator, own_redis.url)
    assert await emulator.count("whatsapp", WA_USER) == 2


async def test_redis_restarted_under_load_loses_nothing(emulator, db, clock, own_redis, own_arq, tmp_path) -> None:
    users = [f"91980000{i:04d}" for i in range(40)]
    ids = []
    for i, user in enumerate(users):
        await open_window(db, emulator.settings, clock.now, user=user)
        ids.append(await queue(db, key=f"k-load-{i}", recipient=user))
    await api.enqueue_sends(own_arq, ids)
    # Slow sends, four at a time: 40 rows take >= 3 s, so Redis surely goes away mid-run.
    # A short lease: rows whose run died with the lost worker are free again in 2 s, not 70.
    proc = await start_worker(emulator.settings, own_redis.url, STALL_S="0.3", MYMEDIC_WORKER_MAX_JOBS="4",
                              MYMEDIC_SEND_LEASE_S="2")

    async def sent_count() -> int:
        async with db() as session:
            return int(await session.scalar(select(func.count()).select_from(OutboundMessage)
                                            .where(OutboundMessage.provider_message_id.is_not(None))) or 0)

    await eventually(lambda: _at_least(sent_count, 3), attempts=1200)
    own_redis.stop()      # Redis goes away mid-run, with every queued job (no persistence)
    assert await sent_count() < len(users)
    own_redis.start()
    pool = await create_pool(arq_settings(own_redis.url))
    try:
        async def all_sent() -> bool:
            # What the per-minute cron does, ticked faster: rows whose retry (or lease) ran
            # out later than one sweep are picked up by a later one.
            await pool.enqueue_job("sweep_outbox")
            async with db() as session:
                left = await session.scalar(select(func.count()).select_from(OutboundMessage)
                                            .where(OutboundMessage.status == OutboundState.QUEUED))
            return not left

        await eventually(all_sent, attempts=600, pause_s=0.25)
        # The worker is serving the new Redis (it sent the rest), so SIGTERM finds it running.
        proc.send_signal(signal.SIGTERM)
        assert await _exit_code(proc) == 0  # the worker outlived the Redis restart
    finally:
        await pool.aclose()
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    counts = [await emulator.count("whatsapp", user) for user in users]
    assert min(counts) >= 1
    # a send cut off between the provider's answer and our commit may repeat, nothing else
    assert sum(counts) <= len(users) + 10


async def _at_least(count: Callable[[], Awaitable[int]], n: int) -> bool:
    return await count() >= n


async def test_a_batch_killed_mid_way_is_finished_by_the_next_worker(emulator, db, clock, own_redis, own_arq,
                                                                     tmp_path) -> None:
    users = [f"9198000002{i:02d}" for i in range(5)]
    ids = []
    for i, user in enumerate(users):
        await open_window(db, emulator.settings, clock.now, user=user)
        ids.append(await queue(db, key=f"k-batch-{i}", recipient=user))
    job_id = send_batch_job_id(ids)
    await own_arq.enqueue_job(SEND_BATCH_JOB, ids, _job_id=job_id)
    marker = tmp_path / "killed-batch"
    proc = await start_worker(emulator.settings, own_redis.url, KILL_AT="after_send", KILL_MARKER=str(marker),
                              NO_CRON="1")
    assert await _exit_code(proc) == -signal.SIGKILL
    assert int(marker.read_text().split(":")[1]) in ids  # killed between a provider call and its record
    before = {user: await emulator.count("whatsapp", user) for user in users}
    assert sum(before.values()) >= 1
    # arq keeps the batch job queued; its in-progress marker and the rows' leases would expire
    # after the job timeout (+10 s). Expire them now instead of waiting that long.
    assert await own_arq.delete(in_progress_key_prefix + job_id) == 1
    async with db() as session, session.begin():
        await session.execute(update(OutboundMessage).where(OutboundMessage.id.in_(ids)).values(lease_until=None))
    await _recover(emulator, own_redis.url)
    for oid in ids:
        stored = await row(db, oid)
        assert stored.status != OutboundState.QUEUED and stored.provider_message_id
    for user in users:
        after = await emulator.count("whatsapp", user)
        # Not yet at the provider when the worker died: exactly once. Inside the window
        # (accepted, not recorded): at most once more, and not at all once its status came.
        assert after == 1 if before[user] == 0 else 1 <= after <= 2, (user, before[user], after)
