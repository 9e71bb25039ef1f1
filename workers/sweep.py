"""Cron safety nets of the outbox: re-enqueue owed sends, forget old inbound ids.

The sweep is why losing Redis (or a missed deferral, or a crash between a commit and
its enqueue) loses nothing: every queued row that is due gets its send job again.
Job ids are derived from row ids, so a row whose job still exists is not doubled, and
the send job re-reads the row, so a row already sent is not sent twice.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from typing import Any

from sqlalchemy import select

from bot.outbox import api
from bot.outbox.models import OutboundMessage, OutboundState

log = logging.getLogger(__name__)

SWEEP_BATCH = 1000


async def sweep_outbox(ctx: dict[str, Any]) -> int:
    """Enqueue a send for every queued row that is due now; returns how many were found."""
    clock: Callable[[], dt.datetime] = ctx["clock"]
    now = clock()
    found = 0
    after_id = 0
    while True:
        async with ctx["sessionmaker"]() as session, session.begin():
            ids = list((await session.execute(
                select(OutboundMessage.id)
                .where(OutboundMessage.status == OutboundState.QUEUED,
                       OutboundMessage.due_at <= now, OutboundMessage.id > after_id)
                .order_by(OutboundMessage.id)
                .limit(SWEEP_BATCH)
            )).scalars())
        if not ids:
            break
        await api.enqueue_sends(ctx["redis"], ids)
        found += len(ids)
        after_id = ids[-1]
    if found:
        log.info("sweep: %d due outbound rows enqueued", found)
    return found


async def purge_inbound_ids(ctx: dict[str, Any]) -> int:
    """Delete inbound provider ids past the 7-day dedupe horizon."""
    async with ctx["sessionmaker"]() as session, session.begin():
        removed = await api.purge_inbound_ids(session, now=ctx["clock"]())
    if removed:
        log.info("purged %d inbound ids", removed)
    return removed
