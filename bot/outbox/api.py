"""What the dispatcher, the status webhooks and the workers call to use the outbox.

Everything that takes a `session` works inside the CALLER's transaction: the caller
commits (so a webhook's inbound id and the replies it caused land in one commit).
`enqueue_sends` is the only call that touches Redis and must run after that commit.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, TypeVar

from arq.connections import ArqRedis
from sqlalchemy import case, delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import load_only

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

# Bound parameters per statement at most: SQLite builds before 3.32 allow 999, so batches
# are cut into chunks below that on every backend.
_MAX_PARAMS = 900
_T = TypeVar("_T")
# What settling reads and writes of an outbound row: loading only these skips decoding the
# stored reply (JSON) of every row a status batch names.
_SETTLED_COLUMNS = load_only(
    OutboundMessage.idempotency_key, OutboundMessage.provider_message_id, OutboundMessage.status,
    OutboundMessage.sent_at, OutboundMessage.error_code, OutboundMessage.error_reason,
    OutboundMessage.updated_at,
)

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
    values = _outbound_values(
        org_id=org_id, channel=channel, recipient=recipient, reply=reply, purpose=purpose,
        idempotency_key=idempotency_key, account=account, not_before=not_before, appointment_id=appointment_id,
        patient_id=patient_id, in_reply_to=in_reply_to, fallback=fallback, now=now)
    # One Core statement with bound parameters: compiled once and cached, where `.values()`
    # with literals (ORM insert) was rebuilt per message — a reminder wave queues thousands.
    stmt = (
        insert_for(session, OutboundMessage.__table__)
        .on_conflict_do_nothing(index_elements=["idempotency_key"])
        .returning(OutboundMessage.id)
    )
    new_id = (await session.execute(stmt, values)).scalar_one_or_none()
    if new_id is not None:
        return int(new_id)
    existing = await session.execute(
        select(OutboundMessage.id).where(OutboundMessage.idempotency_key == idempotency_key)
    )
    return int(existing.scalar_one())


async def queue_messages(session: AsyncSession, messages: Sequence[Mapping[str, Any]]) -> list[int]:
    """`queue_message` for many (each mapping holds its keyword arguments); their ids, in order.

    One INSERT (executemany) and one SELECT per 900 messages, however many: a transaction
    that queued a batch one INSERT at a time would wait for the event loop's turn at each,
    holding its locks (on SQLite, the database's one write lock) all the while."""
    values = [_outbound_values(**message) for message in messages]
    if not values:
        return []
    await session.execute(
        insert_for(session, OutboundMessage.__table__).on_conflict_do_nothing(index_elements=["idempotency_key"]),
        values,
    )
    keys = [v["idempotency_key"] for v in values]
    ids: dict[str, int] = {}
    for chunk in _chunks(sorted(set(keys)), _MAX_PARAMS):
        ids.update((await session.execute(
            select(OutboundMessage.idempotency_key, OutboundMessage.id)
            .where(OutboundMessage.idempotency_key.in_(chunk)))).all())
    return [int(ids[key]) for key in keys]


def _outbound_values(
    *, org_id: int, channel: Channel, recipient: str, reply: Reply, purpose: str, idempotency_key: str,
    account: str | None = None, not_before: dt.datetime | None = None, appointment_id: int | None = None,
    patient_id: int | None = None, in_reply_to: str | None = None, fallback: Template | None = None,
    now: dt.datetime | None = None,
) -> dict[str, Any]:
    """A new outbound row's column values."""
    created = now or utcnow()
    return dict(
        org_id=org_id, channel=str(channel), account=account, recipient=recipient,
        purpose=purpose, idempotency_key=idempotency_key, reply=reply_to_dict(reply),
        fallback=reply_to_dict(fallback) if fallback is not None else None,
        status=OutboundState.QUEUED, not_before=not_before,
        due_at=max(not_before, created) if not_before else created,
        appointment_id=appointment_id, patient_id=patient_id, in_reply_to=in_reply_to,
        used_fallback=False, attempts=0, created_at=created, updated_at=created,
    )


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
    await record_statuses(session, [update_])


async def record_statuses(session: AsyncSession, updates: Sequence[StatusUpdate]) -> None:
    """`record_status` for a whole batch, with a constant number of statements per batch.

    Each (message, status) is stored once (the first of duplicates wins, as does an
    earlier webhook's copy); the outbound rows they name, by provider id or by our key, are
    locked and settled together (`settle_many`), so the order of statuses inside the batch
    does not matter: read before delivered still ends at read.
    """
    unique: dict[tuple[str, str], StatusUpdate] = {}
    for item in updates:
        unique.setdefault((item.provider_message_id, item.status), item)
    if not unique:
        return
    rows = await _lock_rows_for(session, unique.values())
    by_provider_id = {row.provider_message_id: row for row in rows if row.provider_message_id}
    by_key = {row.idempotency_key: row for row in rows}
    recorded_at = utcnow()
    values = []
    # Sorted by the unique key: concurrent batches then insert (and wait on) in one order.
    for (provider_id, status), item in sorted(unique.items()):
        row = by_provider_id.get(provider_id) or (by_key.get(item.idempotency_key) if item.idempotency_key else None)
        values.append({
            # Matched at insert when the row is known: no UPDATE needed to match it later.
            "outbound_id": row.id if row is not None else None, "channel": str(item.channel),
            "provider_message_id": provider_id, "idempotency_key": item.idempotency_key, "status": status,
            "occurred_at": item.timestamp, "recorded_at": recorded_at, "error_code": item.error_code,
        })
    # One executemany of one cached statement (a multi-row VALUES would be compiled anew for
    # every batch size, which costs more CPU than the insert itself). The plain table, not
    # the ORM class: nothing here needs the ORM's per-row bulk bookkeeping.
    await session.execute(
        insert_for(session, OutboundStatus.__table__)
        .on_conflict_do_nothing(index_elements=["provider_message_id", "status"]),
        values,
    )
    await settle_many(session, rows)
    await session.flush()


async def _lock_rows_for(session: AsyncSession, updates: Iterable[StatusUpdate]) -> list[OutboundMessage]:
    """The outbound rows `updates` name (by provider id or by our key), locked, in id order."""
    provider_ids = sorted({item.provider_message_id for item in updates})
    keys = sorted({item.idempotency_key for item in updates if item.idempotency_key})
    found: dict[int, OutboundMessage] = {}
    step = _MAX_PARAMS // 2
    for start in range(0, max(len(provider_ids), len(keys)), step):
        match = []
        if provider_ids[start:start + step]:
            match.append(OutboundMessage.provider_message_id.in_(provider_ids[start:start + step]))
        if keys[start:start + step]:
            match.append(OutboundMessage.idempotency_key.in_(keys[start:start + step]))
        # Locked in id order, so two batches naming the same rows cannot deadlock each other.
        result = await session.execute(
            select(OutboundMessage).options(_SETTLED_COLUMNS).where(or_(*match))
            .order_by(OutboundMessage.id).with_for_update()
        )
        for row in result.scalars():
            found[row.id] = row
    return [found[row_id] for row_id in sorted(found)]


async def settle(session: AsyncSession, row: OutboundMessage, *, also_provider_id: str | None = None) -> None:
    """Apply every status known for `row` (matched or still unmatched) to it.

    The row's status becomes the highest-ranked one seen, so it never moves backwards;
    a status carrying our key is proof that the provider accepted the message.
    `also_provider_id`: a provider id just returned for the row, not yet stored on it.
    """
    await settle_many(session, [row], also_provider_ids={row.id: also_provider_id} if also_provider_id else None)


async def settle_many(
    session: AsyncSession, rows: Sequence[OutboundMessage], *,
    also_provider_ids: Mapping[int, str] | None = None,
) -> None:
    """`settle` for many rows, reading their statuses with one SELECT per chunk of rows.

    A status belongs to a row when it is matched to it already, carries its key, or carries
    its provider id (stored, or just returned: `also_provider_ids` maps row id → that id).
    Statuses not yet matched are matched here. Changes are left to the caller's flush.
    """
    rows = list({row.id: row for row in rows}.values())
    if not rows:
        return
    also = also_provider_ids or {}
    provider_ids = {row.id: {p for p in (row.provider_message_id, also.get(row.id)) if p} for row in rows}
    table = OutboundStatus.__table__
    statuses: dict[int, Any] = {}
    for chunk in _chunks(rows, _MAX_PARAMS // 4):
        pids = sorted({p for row in chunk for p in provider_ids[row.id]})
        match = [table.c.outbound_id.in_([row.id for row in chunk]),
                 table.c.idempotency_key.in_([row.idempotency_key for row in chunk])]
        if pids:
            match.append(table.c.provider_message_id.in_(pids))
        # Plain rows, not ORM objects: read once and dropped (cheaper, and nothing to flush).
        result = await session.execute(select(
            table.c.id, table.c.outbound_id, table.c.idempotency_key, table.c.provider_message_id,
            table.c.status, table.c.occurred_at, table.c.error_code,
        ).where(or_(*match)).order_by(table.c.id))
        for status in result:
            statuses[status.id] = status
    if not statuses:
        return
    by_id = {row.id: row for row in rows}
    by_key = {row.idempotency_key: row for row in rows}
    by_provider_id = {p: row for row in rows for p in provider_ids[row.id]}
    per_row: dict[int, list[Any]] = {}
    for status in statuses.values():  # in id order: the first status names the provider id
        owners = {status.outbound_id} if status.outbound_id in by_id else set()
        for owner in (by_key.get(status.idempotency_key), by_provider_id.get(status.provider_message_id)):
            if owner is not None:
                owners.add(owner.id)
        for owner_id in owners:
            per_row.setdefault(owner_id, []).append(status)
    to_match: dict[int, int] = {}
    for row_id, known in per_row.items():
        for status in known:
            if status.outbound_id is None:
                to_match.setdefault(status.id, row_id)
    # Before the rows change: this statement would otherwise autoflush them, and the
    # caller's own changes to the rows would then cost a second UPDATE of each.
    for chunk_ids in _chunks(sorted(to_match), _MAX_PARAMS // 3):
        await session.execute(
            update(OutboundStatus).where(OutboundStatus.id.in_(chunk_ids))
            .values(outbound_id=case({sid: to_match[sid] for sid in chunk_ids}, value=OutboundStatus.id))
            # Nothing of these rows is loaded as objects here; no need to look for them.
            .execution_options(synchronize_session=False)
        )
    now = utcnow()
    for row_id, known in per_row.items():
        _apply(by_id[row_id], known, now)


def _apply(row: OutboundMessage, statuses: Sequence[Any], now: dt.datetime) -> None:
    """Move `row` to the highest-ranked of `statuses` (never backwards); fill in what the
    first status proves (provider id, send time) when the send has not recorded it yet."""
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
    row.updated_at = now


def _chunks(items: Sequence[_T], size: int) -> Iterator[Sequence[_T]]:
    for start in range(0, len(items), max(size, 1)):
        yield items[start:start + size]
