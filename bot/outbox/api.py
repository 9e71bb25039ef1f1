"""What the dispatcher, the status webhooks and the workers call to use the outbox.

Everything that takes a `session` works inside the CALLER's transaction: the caller
commits (so a webhook's inbound id and the replies it caused land in one commit).
`enqueue_sends` is the only call that touches Redis and must run after that commit.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence

from arq.connections import ArqRedis
from sqlalchemy import delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db import utcnow
from bot.messages import Channel, Inbound, Reply, StatusUpdate, Template
from bot.outbox.keys import SEND_JOB, send_job_id
from bot.outbox.models import (
    InboundMessage,
    OutboundMessage,
    OutboundState,
    OutboundStatus,
    RecipientOptOut,
    WhatsAppWindow,
)
from bot.outbox.serialize import reply_to_dict
from bot.outbox.upsert import insert_for

log = logging.getLogger(__name__)

INBOUND_ID_RETENTION = dt.timedelta(days=7)
WHATSAPP_WINDOW = dt.timedelta(hours=24)

# Provider statuses in the order a message lives through them. A row's status is the
# highest rank seen, so a late "delivered" never overwrites "read".
STATUS_RANK: dict[str, int] = {
    "queued": 0,
    "accepted": 0,
    "scheduled": 0,
    "sending": 5,
    "sent": 10,
    "failed": 15,
    "undelivered": 15,
    "delivered": 20,
    "read": 30,
}
_ROW_STATUS = {"undelivered": OutboundState.FAILED, "failed": OutboundState.FAILED,
               "sent": OutboundState.SENT, "delivered": OutboundState.DELIVERED,
               "read": OutboundState.READ}

# Purposes that are allowed to reach an opted-out recipient (the confirmation of the opt-out).
OPT_OUT_CONFIRMATION = "opt_out_confirmation"


async def record_inbound(session: AsyncSession, inbound: Inbound, *, org_id: int) -> bool:
    """Remember a provider message id; False when it was already recorded (a redelivery)."""
    stmt = (
        insert_for(session, InboundMessage)
        .values(channel=str(inbound.channel), provider_message_id=inbound.message_id,
                org_id=org_id, received_at=utcnow())
        .on_conflict_do_nothing(index_elements=["channel", "provider_message_id"])
        .returning(InboundMessage.id)
    )
    return (await session.execute(stmt)).scalar_one_or_none() is not None


async def purge_inbound_ids(session: AsyncSession, *, now: dt.datetime) -> int:
    """Forget inbound ids older than the 7-day dedupe horizon; returns how many went."""
    result = await session.execute(
        delete(InboundMessage).where(InboundMessage.received_at < now - INBOUND_ID_RETENTION)
    )
    return int(result.rowcount or 0)


async def queue_message(
    session: AsyncSession,
    *,
    org_id: int,
    channel: Channel,
    recipient: str,
    reply: Reply,
    purpose: str,
    idempotency_key: str,
    account: str | None = None,
    not_before: dt.datetime | None = None,
    appointment_id: int | None = None,
    patient_id: int | None = None,
    in_reply_to: str | None = None,
    fallback: Template | None = None,
    now: dt.datetime | None = None,
) -> int:
    """Add an outbound row in the caller's transaction and return its id.

    The same `idempotency_key` again returns the existing row's id and adds nothing.
    `fallback` is the approved template to send instead when WhatsApp refuses a
    free-form reply (outside the 24-hour window).
    """
    created = now or utcnow()
    stmt = (
        insert_for(session, OutboundMessage)
        .values(
            org_id=org_id, channel=str(channel), account=account, recipient=recipient,
            purpose=purpose, idempotency_key=idempotency_key, reply=reply_to_dict(reply),
            fallback=reply_to_dict(fallback) if fallback is not None else None,
            status=OutboundState.QUEUED, not_before=not_before,
            due_at=max(not_before, created) if not_before else created,
            appointment_id=appointment_id, patient_id=patient_id, in_reply_to=in_reply_to,
            used_fallback=False, attempts=0, created_at=created, updated_at=created,
        )
        .on_conflict_do_nothing(index_elements=["idempotency_key"])
        .returning(OutboundMessage.id)
    )
    new_id = (await session.execute(stmt)).scalar_one_or_none()
    if new_id is not None:
        return int(new_id)
    existing = await session.execute(
        select(OutboundMessage.id).where(OutboundMessage.idempotency_key == idempotency_key)
    )
    return int(existing.scalar_one())


async def enqueue_sends(
    arq: ArqRedis, outbound_ids: Sequence[int], *, defer_until: dt.datetime | None = None
) -> None:
    """Enqueue one send job per row (after the commit that created the rows).

    The job id is derived from the row id, so a second enqueue of a row whose job is
    still queued or running is dropped by arq. If this call never happens (crash,
    Redis down) the sweep enqueues the rows when they are due.
    """
    for outbound_id in outbound_ids:
        await arq.enqueue_job(SEND_JOB, outbound_id, _job_id=send_job_id(outbound_id),
                              _defer_until=defer_until)


async def touch_window(session: AsyncSession, *, account: str, user_id: str, at: dt.datetime) -> None:
    """Record an inbound from a WhatsApp user: it (re)opens the 24-hour free-form window.

    Never moves the time backwards (redeliveries arrive with old timestamps).
    """
    stmt = insert_for(session, WhatsAppWindow).values(account=account, user_id=user_id,
                                                       last_inbound_at=at)
    stmt = stmt.on_conflict_do_update(
        index_elements=["account", "user_id"],
        set_={"last_inbound_at": stmt.excluded.last_inbound_at},
        where=WhatsAppWindow.last_inbound_at < stmt.excluded.last_inbound_at,
    )
    await session.execute(stmt)


async def window_open(session: AsyncSession, *, account: str, user_id: str, at: dt.datetime) -> bool:
    """Whether free-form WhatsApp messages to `user_id` are allowed at `at`."""
    last = (await session.execute(
        select(WhatsAppWindow.last_inbound_at).where(
            WhatsAppWindow.account == account, WhatsAppWindow.user_id == user_id)
    )).scalar_one_or_none()
    return last is not None and at - last < WHATSAPP_WINDOW


async def set_opt_out(
    session: AsyncSession, *, channel: Channel, recipient: str, opted_out: bool, source: str,
    at: dt.datetime,
) -> None:
    """Suppress (or allow again) every send to `recipient` on `channel`.

    Call it next to the consent registry entry (STOP/START words) and when a provider
    reports the address opted out (Twilio 21610); the delivery job honours it.
    """
    stmt = insert_for(session, RecipientOptOut).values(
        channel=str(channel), recipient=recipient, opted_out=opted_out, source=source[:64],
        changed_at=at)
    stmt = stmt.on_conflict_do_update(
        index_elements=["channel", "recipient"],
        set_={"opted_out": stmt.excluded.opted_out, "source": stmt.excluded.source,
              "changed_at": stmt.excluded.changed_at},
        where=RecipientOptOut.changed_at <= stmt.excluded.changed_at,
    )
    await session.execute(stmt)


async def is_opted_out(session: AsyncSession, *, channel: Channel | str, recipient: str) -> bool:
    """Whether `recipient` opted out of `channel` (channel-level suppression)."""
    value = (await session.execute(
        select(RecipientOptOut.opted_out).where(
            RecipientOptOut.channel == str(channel), RecipientOptOut.recipient == recipient)
    )).scalar_one_or_none()
    return bool(value)


async def record_status(session: AsyncSession, update_: StatusUpdate) -> None:
    """Store a provider status once per (message, status) and move the row forward.

    The row is found by provider id or by our idempotency key (echoed back by the
    provider), so a status that beats the send's own commit still counts: it is kept
    unmatched and applied when the send records its provider id.
    """
    stmt = (
        insert_for(session, OutboundStatus)
        .values(channel=str(update_.channel), provider_message_id=update_.provider_message_id,
                idempotency_key=update_.idempotency_key, status=update_.status,
                occurred_at=update_.timestamp, recorded_at=utcnow(), error_code=update_.error_code)
        .on_conflict_do_nothing(index_elements=["provider_message_id", "status"])
    )
    await session.execute(stmt)
    match = [OutboundMessage.provider_message_id == update_.provider_message_id]
    if update_.idempotency_key:
        match.append(OutboundMessage.idempotency_key == update_.idempotency_key)
    row = (await session.execute(
        select(OutboundMessage).where(or_(*match)).with_for_update()
    )).scalars().first()
    if row is not None:
        await settle(session, row)


async def settle(session: AsyncSession, row: OutboundMessage, *, also_provider_id: str | None = None) -> None:
    """Apply every status known for `row` (matched or still unmatched) to it.

    The row's status becomes the highest-ranked one seen, so it never moves backwards;
    a status carrying our key is proof that the provider accepted the message.
    `also_provider_id`: a provider id just returned for the row, not yet stored on it.
    """
    match = [OutboundStatus.outbound_id == row.id, OutboundStatus.idempotency_key == row.idempotency_key]
    provider_ids = {p for p in (row.provider_message_id, also_provider_id) if p}
    if provider_ids:
        match.append(OutboundStatus.provider_message_id.in_(sorted(provider_ids)))
    statuses = (await session.execute(select(OutboundStatus).where(or_(*match)))).scalars().all()
    if not statuses:
        return
    unmatched = [s.id for s in statuses if s.outbound_id is None]
    if unmatched:
        await session.execute(update(OutboundStatus).where(OutboundStatus.id.in_(unmatched))
                              .values(outbound_id=row.id))
    if row.provider_message_id is None:
        row.provider_message_id = statuses[0].provider_message_id
        row.sent_at = row.sent_at or min(s.occurred_at for s in statuses)
    best = max(statuses, key=lambda s: STATUS_RANK.get(s.status, 0))
    current_rank = max((r for name, r in STATUS_RANK.items() if _ROW_STATUS.get(name) == row.status),
                       default=-1)
    new_status = _ROW_STATUS.get(best.status)
    if new_status and STATUS_RANK.get(best.status, 0) > current_rank:
        row.status = new_status
        if new_status == OutboundState.FAILED:
            row.error_code = str(best.error_code) if best.error_code is not None else "provider_failed"
            row.error_reason = "provider reported failure"
    row.updated_at = utcnow()
