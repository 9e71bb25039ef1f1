"""Handoff state: open, look up, list, log messages and close, each inside the caller's
session so it commits together with whatever else the caller writes."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.inbox.models import HandoffMessageRow, HandoffRow, HandoffStatus


class InboxError(Exception):
    """Base of the inbox service errors (the web edge turns them into HTTP errors)."""

    code = "INBOX_ERROR"


class HandoffNotFound(InboxError):
    code = "NOT_FOUND"


class HandoffClosed(InboxError):
    code = "HANDOFF_CLOSED"


@dataclass(frozen=True, slots=True)
class HandoffView:
    id: int
    org_id: int
    channel: str
    account: str
    user_id: str
    patient_id: int | None
    reason: str
    status: str
    assigned_to: str | None
    opened_at: dt.datetime
    closed_at: dt.datetime | None

    def to_dict(self) -> dict[str, object]:
        return {
            "id": self.id, "org_id": self.org_id, "channel": self.channel, "user_id": self.user_id,
            "patient_id": self.patient_id, "reason": self.reason, "status": self.status,
            "assigned_to": self.assigned_to, "opened_at": self.opened_at.isoformat(),
            "closed_at": self.closed_at.isoformat() if self.closed_at else None,
        }


@dataclass(frozen=True, slots=True)
class HandoffMessageView:
    id: int
    handoff_id: int
    direction: str
    kind: str
    body: str | None
    staff: str | None
    created_at: dt.datetime

    def to_dict(self) -> dict[str, object]:
        return {
            "id": self.id, "direction": self.direction, "kind": self.kind, "body": self.body,
            "staff": self.staff, "created_at": self.created_at.isoformat(),
        }


def _view(row: HandoffRow) -> HandoffView:
    return HandoffView(
        id=row.id, org_id=row.org_id, channel=row.channel, account=row.account, user_id=row.user_id,
        patient_id=row.patient_id, reason=row.reason, status=row.status, assigned_to=row.assigned_to,
        opened_at=row.opened_at, closed_at=row.closed_at,
    )


def _message_view(row: HandoffMessageRow) -> HandoffMessageView:
    return HandoffMessageView(
        id=row.id, handoff_id=row.handoff_id, direction=row.direction, kind=row.kind,
        body=row.body, staff=row.staff, created_at=row.created_at,
    )


async def open_handoff_for(
    session: AsyncSession, *, org_id: int, channel: str, user_id: str,
) -> HandoffView | None:
    """The open handoff of this conversation, if any."""
    row = await session.scalar(
        select(HandoffRow).where(
            HandoffRow.org_id == org_id, HandoffRow.channel == channel,
            HandoffRow.user_id == user_id, HandoffRow.status == HandoffStatus.OPEN.value,
        )
    )
    return _view(row) if row else None


async def open_handoff(
    session: AsyncSession, *, org_id: int, channel: str, account: str, user_id: str,
    patient_id: int | None, reason: str, at: dt.datetime,
) -> HandoffView:
    """Open a handoff for this conversation, or return the one already open (idempotent)."""
    existing = await open_handoff_for(session, org_id=org_id, channel=channel, user_id=user_id)
    if existing:
        return existing
    row = HandoffRow(
        org_id=org_id, channel=channel, account=account, user_id=user_id, patient_id=patient_id,
        reason=reason[:64], status=HandoffStatus.OPEN.value, opened_at=at,
    )
    session.add(row)
    await session.flush()
    return _view(row)


async def get_handoff(session: AsyncSession, handoff_id: int, *, org_id: int | None = None) -> HandoffView:
    """One handoff by id (optionally restricted to an organization). Raises HandoffNotFound."""
    row = await session.get(HandoffRow, handoff_id)
    if row is None or (org_id is not None and row.org_id != org_id):
        raise HandoffNotFound(f"handoff {handoff_id} not found")
    return _view(row)


async def list_handoffs(
    session: AsyncSession, *, org_id: int | None = None, status: str | None = HandoffStatus.OPEN.value,
    limit: int = 100,
) -> list[HandoffView]:
    """Handoffs, oldest first (the queue order staff should answer in)."""
    query = select(HandoffRow).order_by(HandoffRow.opened_at, HandoffRow.id).limit(limit)
    if org_id is not None:
        query = query.where(HandoffRow.org_id == org_id)
    if status is not None:
        query = query.where(HandoffRow.status == status)
    return [_view(r) for r in (await session.scalars(query)).all()]


async def add_message(
    session: AsyncSession, handoff_id: int, *, direction: str, kind: str, body: str | None,
    at: dt.datetime, provider_message_id: str | None = None, staff: str | None = None,
    outbound_id: int | None = None,
) -> HandoffMessageView:
    """Log one message of a handed-off conversation."""
    row = HandoffMessageRow(
        handoff_id=handoff_id, direction=direction, kind=kind, body=body, created_at=at,
        provider_message_id=provider_message_id, staff=staff, outbound_id=outbound_id,
    )
    session.add(row)
    await session.flush()
    return _message_view(row)


async def message_for_outbound(session: AsyncSession, handoff_id: int, outbound_id: int) -> HandoffMessageView | None:
    """The staff message already logged for an outbound row (a retried reply POST)."""
    row = await session.scalar(
        select(HandoffMessageRow).where(HandoffMessageRow.handoff_id == handoff_id,
                                        HandoffMessageRow.outbound_id == outbound_id)
    )
    return _message_view(row) if row else None


async def messages(session: AsyncSession, handoff_id: int) -> list[HandoffMessageView]:
    """The messages of one handoff in the order they were logged."""
    rows = await session.scalars(
        select(HandoffMessageRow).where(HandoffMessageRow.handoff_id == handoff_id)
        .order_by(HandoffMessageRow.created_at, HandoffMessageRow.id)
    )
    return [_message_view(r) for r in rows.all()]


async def close_handoff(
    session: AsyncSession, handoff_id: int, *, at: dt.datetime, staff: str | None = None,
    org_id: int | None = None,
) -> HandoffView:
    """Close a handoff so the bot answers this patient again. Closing twice is a no-op."""
    row = await session.get(HandoffRow, handoff_id, with_for_update=True)
    if row is None or (org_id is not None and row.org_id != org_id):
        raise HandoffNotFound(f"handoff {handoff_id} not found")
    if row.status == HandoffStatus.OPEN.value:
        row.status = HandoffStatus.CLOSED.value
        row.closed_at = at
        if staff and not row.assigned_to:
            row.assigned_to = staff
        await session.flush()
    return _view(row)
