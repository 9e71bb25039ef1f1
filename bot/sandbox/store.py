"""What the emulators record, in Redis: each send per recipient, read receipts, aliases
(a patient's phone ↔ BSUID) and failure modes queued by tests through /sandbox/control."""

from __future__ import annotations

import json
import time
from typing import Any

from redis.asyncio import Redis

PREFIX = "sandbox:"
TTL_S = 24 * 3600


def _outbox_key(channel: str, user: str) -> str:
    return f"{PREFIX}out:{channel}:{user}"


def _alias_key(channel: str, address: str) -> str:
    return f"{PREFIX}alias:{channel}:{address}"


def _fail_key(channel: str, recipient: str | None) -> str:
    return f"{PREFIX}fail:{channel}:{recipient or '*'}"


def read_key(message_id: str) -> str:
    return f"{PREFIX}read:{message_id}"


class SandboxStore:
    """Redis-backed record of the emulators (shared by every web process)."""

    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._record_script = redis.register_script(_RECORD_LUA)
        self._take_failure_script = redis.register_script(_TAKE_FAILURE_LUA)

    async def alias(self, channel: str, address: str, user: str) -> None:
        """Messages addressed to `address` (a phone or BSUID) are shown as `user`'s."""
        await self._redis.set(_alias_key(channel, address), user, ex=TTL_S)

    async def resolve(self, channel: str, address: str) -> str:
        raw = await self._redis.get(_alias_key(channel, address))
        return raw.decode() if raw else address

    async def record(self, channel: str, address: str, entry: dict[str, Any]) -> int:
        """Append a send for `address` (filed under its alias); returns its index in that list.
        `entry["at"]`, when given, is when the request arrived (default: now)."""
        entry = {"at": time.time(), **entry, "channel": channel}
        # One round trip: resolve the alias, append, refresh the TTL (the emulators sit in
        # every benchmark turn, so they must stay cheap).
        index = await self._record_script(
            keys=[_alias_key(channel, address)],
            args=[f"{PREFIX}out:{channel}:", address, json.dumps(entry), TTL_S],
        )
        return int(index)

    async def messages(self, channel: str, user: str, since: int = 0) -> list[dict[str, Any]]:
        """Sends to `user` from index `since` on (each with its `index`)."""
        user = await self.resolve(channel, user)
        raw = await self._redis.lrange(_outbox_key(channel, user), since, -1)
        return [{**json.loads(item), "user": user, "index": since + i} for i, item in enumerate(raw)]

    async def count(self, channel: str, user: str) -> int:
        user = await self.resolve(channel, user)
        return int(await self._redis.llen(_outbox_key(channel, user)))

    async def set_language(self, channel: str, user: str, lang: str) -> None:
        """The language the sandbox user picked (a hint: the bot still asks on first contact)."""
        await self._redis.set(f"{PREFIX}lang:{channel}:{user}", lang, ex=TTL_S)

    async def language(self, channel: str, user: str) -> str | None:
        raw = await self._redis.get(f"{PREFIX}lang:{channel}:{user}")
        return raw.decode() if raw else None

    async def mark_read(self, message_id: str, typing: bool) -> None:
        await self._redis.set(read_key(message_id), "typing" if typing else "read", ex=TTL_S)

    async def read_state(self, message_id: str) -> str | None:
        raw = await self._redis.get(read_key(message_id))
        return raw.decode() if raw else None

    async def queue_failures(self, channel: str, failure: dict[str, Any], count: int, recipient: str | None) -> None:
        """The next `count` sends (to `recipient`, or to anyone) fail as `failure` says."""
        key = _fail_key(channel, recipient)
        if count > 0:
            await self._redis.rpush(key, *[json.dumps(failure)] * count)
            await self._redis.expire(key, TTL_S)

    async def clear_failures(self) -> None:
        keys = [k async for k in self._redis.scan_iter(match=f"{PREFIX}fail:*")]
        if keys:
            await self._redis.delete(*keys)

    async def take_failure(self, channel: str, recipient: str) -> dict[str, Any] | None:
        """Pop the failure owed to this send, recipient-specific first (one atomic round trip)."""
        raw = await self._take_failure_script(keys=[_fail_key(channel, recipient), _fail_key(channel, None)])
        return json.loads(raw) if raw else None


# The list key is derived from the alias inside the script (single-node Redis only).
_RECORD_LUA = """
local user = redis.call('GET', KEYS[1]) or ARGV[2]
local key = ARGV[1] .. user
local n = redis.call('RPUSH', key, ARGV[3])
redis.call('EXPIRE', key, tonumber(ARGV[4]))
return n - 1
"""

_TAKE_FAILURE_LUA = """
local v = redis.call('LPOP', KEYS[1])
if v then return v end
return redis.call('LPOP', KEYS[2])
"""
