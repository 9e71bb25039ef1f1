"""Group commit: concurrent callers' writes share one transaction.

Delivery statuses arrive as a storm of tiny webhooks (sent, delivered, read for every
message). One transaction each means one turn at the write lock each — on SQLite the
lock of the whole file, contended by the worker process. Here every caller hands its
items over and waits; whatever queued up while the previous transaction was committing
goes into the next one. Nothing waits on a timer, so a lone caller is written at once,
and a caller still returns only after its own items are committed (the webhook's ack
guarantee is unchanged).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

T = TypeVar("T")


class GroupCommit(Generic[T]):
    """Writes items with `write(session, items)`, many callers' items per transaction.

    `write` gets the whole transaction's items in one call (callers' items in submission
    order), so it can write them set-based: a few statements per batch, not per item.
    `linger_s` > 0 makes a transaction wait that long for company before it starts: for
    callers that come evenly spaced (paced sends), which would otherwise commit alone.
    """

    def __init__(
        self, sessionmaker: async_sessionmaker[AsyncSession],
        write: Callable[[AsyncSession, Sequence[T]], Awaitable[None]], *, max_items: int = 500,
        linger_s: float = 0.0,
    ) -> None:
        self._sessionmaker = sessionmaker
        self._write = write
        self._max_items = max_items
        self._linger_s = linger_s
        self._waiting: list[tuple[Sequence[T], asyncio.Future[None]]] = []
        self._batch: list[tuple[Sequence[T], asyncio.Future[None]]] = []  # being committed
        self._committer: asyncio.Task[None] | None = None

    async def submit(self, items: Sequence[T]) -> None:
        """Return once `items` are committed; raise what writing them raised."""
        if not items:
            return
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append((items, done))
        if self._committer is None or self._committer.done():
            self._committer = asyncio.ensure_future(self._commit_waiting())
        # Shielded: a caller that goes away (client hung up) must not abort the others' commit.
        await asyncio.shield(done)

    async def aclose(self) -> None:
        """Wait for the writes in progress (call before disposing of the engine): a commit
        abandoned mid-way would keep its connection, and on SQLite the write lock, open."""
        while self._committer is not None and not self._committer.done():
            await asyncio.shield(self._committer)

    async def _commit_waiting(self) -> None:
        try:
            await self._commit_all()
        finally:
            # Cancelled (loop shutting down): nobody may wait forever for an answer.
            for _, done in (*self._batch, *self._waiting):
                _settle(done, RuntimeError("write interrupted"))
            self._batch, self._waiting = [], []

    async def _commit_all(self) -> None:
        while self._waiting:
            if self._linger_s > 0 and len(self._waiting) < self._max_items:
                await asyncio.sleep(self._linger_s)
            self._batch = batch = []
            count = 0
            while self._waiting and (not batch or count + len(self._waiting[0][0]) <= self._max_items):
                entry = self._waiting.pop(0)
                batch.append(entry)
                count += len(entry[0])
            try:
                await self._commit([item for items, _ in batch for item in items])
            except Exception as exc:  # noqa: BLE001 - retried caller by caller just below
                if len(batch) == 1:
                    _settle(batch[0][1], exc)
                    continue
                # One bad item must not fail everyone: each caller's items alone, once more.
                for items, done in batch:
                    try:
                        await self._commit(items)
                    except Exception as own:  # noqa: BLE001 - handed to that caller
                        _settle(done, own)
                    else:
                        _settle(done)
                continue
            for _, done in batch:
                _settle(done)

    async def _commit(self, items: Sequence[T]) -> None:
        async with self._sessionmaker() as session, session.begin():
            await self._write(session, items)


def _settle(done: asyncio.Future[None], error: BaseException | None = None) -> None:
    if done.done():
        return  # pragma: no cover - only this class settles its futures
    if error is not None:
        done.set_exception(error)
    else:
        done.set_result(None)


__all__ = ["GroupCommit"]
