"""Listing and replaying dead letters (sends that exhausted their tries)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.outbox.models import DeadLetter, OutboundMessage, OutboundState


@dataclass(frozen=True, slots=True)
class DeadLetterView:
    """A dead letter as the CLI shows it: ids, codes and reasons only (no message text)."""

    id: int
    outbound_id: int
    channel: str
    purpose: str
    reason: str
    error_code: str | None
    attempts: int
    created_at: dt.datetime
    replayed_at: dt.datetime | None


async def list_dead_letters(session: AsyncSession, *, include_replayed: bool = False) -> list[DeadLetterView]:
    """Dead letters, oldest first (only those not yet replayed, unless asked)."""
    stmt = (select(DeadLetter, OutboundMessage.channel, OutboundMessage.purpose)
            .join(OutboundMessage, OutboundMessage.id == DeadLetter.outbound_id)
            .order_by(DeadLetter.id))
    if not include_replayed:
        stmt = stmt.where(DeadLetter.replayed_at.is_(None))
    return [
        DeadLetterView(id=d.id, outbound_id=d.outbound_id, channel=channel, purpose=purpose,
                       reason=d.reason, error_code=d.error_code, attempts=d.attempts,
                       created_at=d.created_at, replayed_at=d.replayed_at)
        for d, channel, purpose in (await session.execute(stmt)).all()
    ]


async def replay_dead_letters(
    session: AsyncSession, *, ids: Sequence[int] | None, now: dt.datetime
) -> list[int]:
    """Put the messages of dead letters `ids` (None: all unreplayed) back in the queue.

    Returns the outbound ids to enqueue after the caller commits. A message that was sent
    meanwhile (proof arrived late) is marked replayed but not queued again.
    """
    stmt = select(DeadLetter).where(DeadLetter.replayed_at.is_(None)).with_for_update()
    if ids is not None:
        stmt = stmt.where(DeadLetter.id.in_(list(ids)))
    outbound_ids: list[int] = []
    for letter in (await session.execute(stmt)).scalars():
        letter.replayed_at = now
        row = await session.get(OutboundMessage, letter.outbound_id)
        if row is None or row.provider_message_id is not None:
            continue
        row.status = OutboundState.QUEUED
        row.attempts = 0
        row.error_code = None
        row.error_reason = None
        row.due_at = now
        row.updated_at = now
        outbound_ids.append(row.id)
    return outbound_ids
