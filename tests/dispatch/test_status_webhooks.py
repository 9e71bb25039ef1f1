"""A batched WhatsApp status webhook (several messages' statuses in one POST, as Meta and
our emulator send them) is recorded in full by the real app, in one commit."""

from __future__ import annotations

from sqlalchemy import func, select

from bot.messages import Channel, Text
from bot.outbox import api
from bot.outbox.models import OutboundMessage, OutboundState, OutboundStatus
from bot.sandbox import payloads
from tests.dispatch.support import Env

PHONE_ID = "100000000000001"


def _st(message_id: str, status: str, key: str | None, at: int, **kw) -> payloads.WhatsAppStatus:  # noqa: ANN003
    return payloads.WhatsAppStatus(phone_id=PHONE_ID, message_id=message_id, status=status,
                                   recipient_phone="919800000001", recipient_user_id="IN.1",
                                   callback_data=key, timestamp=1_800_000_000 + at, **kw)


async def test_a_batched_status_webhook_is_recorded_in_full(env: Env) -> None:
    async with env.db() as session, session.begin():
        ids = {key: await api.queue_message(session, org_id=1, channel=Channel.WHATSAPP, recipient="IN.1",
                                            reply=Text("hi"), purpose="reminder", idempotency_key=key,
                                            account=PHONE_ID)
               for key in ("a", "b", "c")}
        row = await session.get(OutboundMessage, ids["a"])
        row.provider_message_id, row.status = "wamid.A", OutboundState.SENT
    failed = [{"code": 131026, "title": "Message undeliverable", "message": "Message undeliverable"}]
    payload = payloads.whatsapp_statuses_webhook([
        _st("wamid.A", "read", "a", 3), _st("wamid.A", "sent", "a", 1), _st("wamid.A", "delivered", "a", 2),
        _st("wamid.B", "sent", "b", 1), _st("wamid.B", "delivered", "b", 2),   # before the send returned
        _st("wamid.C", "failed", "c", 1, errors=failed),
        _st("wamid.Z", "delivered", None, 1),                                   # not ours (yet): kept
        _st("wamid.A", "read", "a", 3),                                         # duplicate
    ])
    assert await env.post_whatsapp(payload) == 200
    assert await env.post_whatsapp(payload) == 200  # a redelivery of the whole batch changes nothing
    rows = {row.idempotency_key: row for row in await env.outbound()}
    assert rows["a"].status == OutboundState.READ
    assert (rows["b"].status, rows["b"].provider_message_id) == (OutboundState.DELIVERED, "wamid.B")
    assert (rows["c"].status, rows["c"].error_code) == (OutboundState.FAILED, "131026")
    assert await env.count(OutboundStatus) == 7
    async with env.db() as s:
        unmatched = await s.scalar(select(func.count()).select_from(OutboundStatus)
                                   .where(OutboundStatus.outbound_id.is_(None)))
    assert unmatched == 1
