"""Group commit: concurrent callers share transactions, each returns only once its own
items are committed, and one caller's bad item fails that caller alone."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Sequence
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from bot.db import utcnow
from bot.outbox.group_commit import GroupCommit
from bot.outbox.models import OutboundStatus


def _status(provider_id: str, status: str = "sent") -> OutboundStatus:
    return OutboundStatus(channel="whatsapp", provider_message_id=provider_id, status=status,
                          occurred_at=utcnow() - dt.timedelta(seconds=1))


async def _count(db: Any) -> int:
    async with db() as s:
        return int(await s.scalar(select(func.count()).select_from(OutboundStatus)) or 0)


async def test_concurrent_callers_share_transactions_and_return_after_their_commit(db):
    transactions = 0

    def counting_sessionmaker() -> Any:
        nonlocal transactions
        transactions += 1
        return db()

    batches: list[int] = []

    async def write(session: Any, rows: Sequence[OutboundStatus]) -> None:
        batches.append(len(rows))
        session.add_all(rows)
        await session.flush()

    committer = GroupCommit(counting_sessionmaker, write)

    async def caller(i: int) -> int:
        await committer.submit([_status(f"wamid.{i}.a"), _status(f"wamid.{i}.b")])
        async with db() as s:  # visible to a fresh session the moment submit returns
            return int(await s.scalar(select(func.count()).select_from(OutboundStatus).where(
                OutboundStatus.provider_message_id.like(f"wamid.{i}.%"))) or 0)

    seen = await asyncio.gather(*(caller(i) for i in range(40)))
    assert seen == [2] * 40
    assert await _count(db) == 80
    assert transactions < 40  # the first caller alone, then the ones that queued meanwhile together
    assert len(batches) == transactions and sum(batches) == 80  # one write call per transaction
    assert max(batches) > 2


async def test_a_bad_item_fails_only_its_caller(db):
    async def write(session: Any, rows: Sequence[OutboundStatus]) -> None:
        session.add_all(rows)
        await session.flush()

    committer = GroupCommit(db, write)
    duplicate = [_status("wamid.dup"), _status("wamid.dup")]   # breaks (provider id, status) uniqueness
    results = await asyncio.gather(committer.submit([_status("wamid.first")]),
                                   *(committer.submit([_status(f"wamid.ok.{i}")]) for i in range(5)),
                                   committer.submit(duplicate), return_exceptions=True)
    assert results[:6] == [None] * 6
    assert isinstance(results[6], IntegrityError)
    assert await _count(db) == 6
    with pytest.raises(IntegrityError):
        await committer.submit(duplicate)
    assert await _count(db) == 6


async def test_aclose_waits_for_the_commit_in_progress(db):
    started, release = asyncio.Event(), asyncio.Event()

    async def slow_write(session: Any, rows: Sequence[OutboundStatus]) -> None:
        started.set()
        await release.wait()
        session.add_all(rows)

    committer = GroupCommit(db, slow_write)
    caller = asyncio.create_task(committer.submit([_status("wamid.slow")]))
    await started.wait()
    caller.cancel()                      # the webhook's client hung up: the write goes on
    closing = asyncio.create_task(committer.aclose())
    await asyncio.sleep(0.05)
    assert not closing.done()
    release.set()
    await closing
    assert await _count(db) == 1


async def test_a_committer_cancelled_mid_write_answers_its_callers(db):
    started = asyncio.Event()

    async def stuck_write(session: Any, rows: Sequence[OutboundStatus]) -> None:
        started.set()
        await asyncio.Event().wait()

    committer = GroupCommit(db, stuck_write)
    first = asyncio.create_task(committer.submit([_status("wamid.a")]))
    await started.wait()
    second = asyncio.create_task(committer.submit([_status("wamid.b")]))
    await asyncio.sleep(0)
    committer._committer.cancel()   # what a loop shutting down does to it
    for caller in (first, second):
        with pytest.raises(RuntimeError, match="interrupted"):
            await asyncio.wait_for(caller, 5)
