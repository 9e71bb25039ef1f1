"""Conversation state in Redis: one JSON envelope per conversation with a TTL.

The envelope wraps the flow's own opaque state with what the dispatcher needs to keep
(the newest provider timestamp handled, the patient id) so the flow never sees it.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Any

from redis.asyncio import Redis

from bot.dispatch.keys import STATE_PREFIX, STATE_TTL_S, user_key

ENVELOPE_VERSION = 1


@dataclass(slots=True)
class Envelope:
    """What is stored for one conversation."""

    state: dict[str, Any] | None = None
    last_provider_ts: dt.datetime | None = None
    patient_id: int | None = None
    turns: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> bytes:
        return json.dumps({
            "v": ENVELOPE_VERSION,
            "state": self.state,
            "last_ts": self.last_provider_ts.isoformat() if self.last_provider_ts else None,
            "patient_id": self.patient_id,
            "turns": self.turns,
            "extra": self.extra,
        }, separators=(",", ":"), default=str).encode()

    @classmethod
    def from_json(cls, raw: bytes | str) -> Envelope:
        data = json.loads(raw)
        last_ts = data.get("last_ts")
        return cls(
            state=data.get("state"),
            last_provider_ts=dt.datetime.fromisoformat(last_ts) if last_ts else None,
            patient_id=data.get("patient_id"),
            turns=int(data.get("turns") or 0),
            extra=data.get("extra") or {},
        )

    def advance_timestamp(self, provider_ts: dt.datetime) -> None:
        """Keep the newest provider timestamp: an older message never moves it back."""
        if self.last_provider_ts is None or provider_ts > self.last_provider_ts:
            self.last_provider_ts = provider_ts


class ConversationStore:
    """Load and save conversation envelopes (call only while holding the user's lock)."""

    def __init__(self, redis: Redis, *, ttl_s: int = STATE_TTL_S) -> None:
        self._redis = redis
        self._ttl_s = ttl_s

    @staticmethod
    def key(org_id: int, channel: str, account: str, user_id: str) -> str:
        return f"{STATE_PREFIX}{org_id}:{user_key(channel, account, user_id)}"

    async def load(self, org_id: int, channel: str, account: str, user_id: str) -> Envelope | None:
        """The stored envelope, or None when there is none (new or expired conversation)."""
        raw = await self._redis.get(self.key(org_id, channel, account, user_id))
        if raw is None:
            return None
        try:
            return Envelope.from_json(raw)
        except (ValueError, TypeError):
            return None  # unreadable state restarts the conversation rather than wedging it

    async def save(self, org_id: int, channel: str, account: str, user_id: str, envelope: Envelope) -> None:
        await self._redis.set(self.key(org_id, channel, account, user_id), envelope.to_json(), ex=self._ttl_s)

    async def delete(self, org_id: int, channel: str, account: str, user_id: str) -> None:
        await self._redis.delete(self.key(org_id, channel, account, user_id))
