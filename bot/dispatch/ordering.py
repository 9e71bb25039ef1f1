"""One user's messages handled one at a time, in order of arrival at our server.

Each arriving message is appended to the user's Redis FIFO (the append *is* the arrival
order) and then waits for its verdict. Whoever holds the user's lock takes items from
the FIFO head, one at a time, up to its own, posting each verdict; releasing the lock
wakes the owner of the next item. Every waiter also retries the lock now and then, so
the queue keeps moving when a holder dies (the lock has a TTL). A waiter that finds its item gone without a verdict learns that a holder
died mid-item and reports failure, so the webhook is not acknowledged and the provider
redelivers (the database dedupe makes that safe).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from redis.asyncio import Redis

from bot.dispatch.keys import (
    DONE_PREFIX,
    DONE_TTL_S,
    LOCK_PREFIX,
    LOCK_TTL_MS,
    QUEUE_PREFIX,
    QUEUE_TTL_S,
    SEQ_PREFIX,
    SEQ_TTL_S,
)

log = logging.getLogger(__name__)

OK = b"ok"
FAILED = b"fail"
WAKE = b"wake"
_SEP = b"\n"

# Release the lock if it still holds our token, then wake the owner of the next queued
# item (its ticket id is the part before the newline) so it takes its turn at once.
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
local head = redis.call('LINDEX', KEYS[2], 0)
if head then
  local ticket = string.match(head, '^([^\\n]*)')
  local done = ARGV[2] .. ticket
  redis.call('RPUSH', done, ARGV[3])
  redis.call('EXPIRE', done, ARGV[4])
end
return 1
"""
# Post an item's verdict (KEYS[2], unless empty) and extend the lock if it is still ours;
# returns 0 when the lock was lost (expired and taken by another holder).
_SETTLE = """
if ARGV[3] ~= '' then
  redis.call('RPUSH', KEYS[2], ARGV[3])
  redis.call('EXPIRE', KEYS[2], ARGV[4])
end
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""
# Append and number in one step so the sequence number is the position of arrival.
_ENQUEUE = """
local seq = redis.call('INCR', KEYS[2])
redis.call('EXPIRE', KEYS[2], ARGV[3])
redis.call('RPUSH', KEYS[1], ARGV[1])
redis.call('EXPIRE', KEYS[1], ARGV[2])
return seq
"""

Process = Callable[[bytes], Awaitable[bool]]


@dataclass(frozen=True, slots=True)
class Ticket:
    """A queued message: which user queue it is in, its id, and its arrival number."""

    user_key: str
    id: str
    seq: int


class UserSerializer:
    """Per-user FIFO + lock over Redis (works across any number of web processes)."""

    def __init__(
        self, redis: Redis, *, lock_ttl_ms: int = LOCK_TTL_MS, poll_s: float = 0.25,
        wait_timeout_s: float = 60.0,
    ) -> None:
        self._redis = redis
        self._lock_ttl_ms = lock_ttl_ms
        self._poll_s = poll_s
        self._wait_timeout_s = wait_timeout_s
        self._release = redis.register_script(_RELEASE)
        self._settle = redis.register_script(_SETTLE)
        self._enqueue = redis.register_script(_ENQUEUE)

    async def enqueue(self, user_key: str, payload: bytes) -> Ticket:
        """Append `payload` to the user's FIFO; the returned ticket's `seq` is its arrival number."""
        ticket_id = secrets.token_hex(8)
        seq = await self._enqueue(
            keys=[QUEUE_PREFIX + user_key, SEQ_PREFIX + user_key],
            args=[ticket_id.encode() + _SEP + payload, QUEUE_TTL_S, SEQ_TTL_S],
        )
        return Ticket(user_key=user_key, id=ticket_id, seq=int(seq))

    async def wait(self, ticket: Ticket, process: Process) -> bool:
        """Wait until the ticket's item has been processed (by us or another holder).

        True when `process` reported success for it; False when it failed, was lost with
        a dead holder, or the wait timed out.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._wait_timeout_s
        done_key = DONE_PREFIX + ticket.id
        while True:
            emptied, own = await self._drain(ticket.user_key, process, ticket.id)
            if own is not None:
                return own  # we processed our own item: no need to go through Redis
            verdict = await self._redis.lpop(done_key)
            while verdict == WAKE:
                verdict = await self._redis.lpop(done_key)
            if verdict is None and emptied:
                # We held the lock and emptied the queue, yet no verdict: a holder died
                # after popping our item. Report failure so the provider redelivers.
                log.warning("inbound ticket lost with its holder ticket=%s", ticket.id)
                return False
            if verdict is None:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    log.warning("inbound ticket timed out ticket=%s", ticket.id)
                    return False
                got = await self._redis.blpop([done_key], timeout=min(self._poll_s, remaining))
                verdict = got[1] if got else None
            if verdict is not None and verdict != WAKE:
                await self._redis.delete(done_key)
                return verdict == OK

    async def _drain(self, user_key: str, process: Process, own_ticket: str) -> tuple[bool, bool | None]:
        """Take the lock if free and process the FIFO head first, up to and including our
        own item (or until the queue is empty), then hand the lock over.

        Returns (whether we emptied the queue, our own item's verdict if we processed it).
        Stopping at our own item keeps each webhook's answer from waiting for later
        arrivals; the owner of the next item is woken to take its turn at once.
        """
        lock_key = LOCK_PREFIX + user_key
        queue_key = QUEUE_PREFIX + user_key
        token = secrets.token_hex(8)
        own: bool | None = None
        emptied = False
        if not await self._redis.set(lock_key, token, nx=True, px=self._lock_ttl_ms):
            return False, None
        try:
            while own is None:
                raw = await self._redis.lpop(queue_key)
                if raw is None:
                    emptied = True
                    break
                ticket_id, _, payload = raw.partition(_SEP)
                try:
                    ok = await process(payload)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # noqa: BLE001 - one item's failure must not stall the queue
                    log.error("inbound processing failed ticket=%s error=%s", ticket_id.decode(), type(exc).__name__)
                    ok = False
                mine = ticket_id.decode() == own_ticket
                if mine:
                    own = ok
                verdict = b"" if mine else (OK if ok else FAILED)
                still_ours = await self._settle(
                    keys=[lock_key, DONE_PREFIX + ticket_id.decode()],
                    args=[token, self._lock_ttl_ms, verdict, DONE_TTL_S],
                )
                if not still_ours:
                    # Our lock lapsed mid-item and another holder drains now: stop, so the
                    # user's messages never run two at a time from here on.
                    log.warning("inbound lock lost while draining")
                    return False, own
        finally:
            await self._release(keys=[lock_key, queue_key], args=[token, DONE_PREFIX, WAKE, DONE_TTL_S])
        return emptied, own
