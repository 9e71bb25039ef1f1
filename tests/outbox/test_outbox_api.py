"""The outbox API on the real database: inbound dedupe, idempotent queueing, statuses
that never move backwards (and may beat the send), WhatsApp windows, opt-outs."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select

from bot.messages import Channel, Inbound, InboundKind, StatusUpdate, Template, Text
from bot.outbox import api
from bot.outbox.models import InboundMessage, OutboundMessage, OutboundState, OutboundStatus
from bot.outbox.serialize import reply_from_dict

T0 = dt.datetime(2026, 11, 22, 9, 0, tzinfo=dt.timezone.utc)


def _inbound(message_id: str) -> Inbound:
    return Inbound(channel=Channel.WHATSAPP, account="100000000000001", user_id="IN.111", message_id=message_id,
                   timestamp=T0, kind=InboundKind.TEXT, text="hi")


async def _queue(session, key: str = "k1", **kw) -> int:  # noqa: ANN001
    args = dict(org_id=1, channel=Channel.WHATSAPP, recipient="919800000001", reply=Text("Hello"),
                purpose="reply", idempotency_key=key)
    args.update(kw)
    return await api.queue_message(session, **args)


async def test_inbound_ids_are_recorded_once(db) -> None:
    async with db() as session, session.begin():
        assert await api.record_inbound(session, _inbound("wamid.A"), org_id=1) is True
    async with db() as session, session.begin():
        assert await api.record_inbound(session, _inbound("wamid.A"), org_id=1) is False
        assert await api.record_inbound(session, _inbound("wamid.B"), org_id=1) is True


async def test_purge_forgets_inbound_ids_after_seven_days(db) -> None:
    async with db() as session, session.begin():
        await api.record_inbound(session, _inbound("wamid.old"), org_id=1)
    async with db() as session, session.begin():
        now = dt.datetime.now(dt.timezone.utc)
        assert await api.purge_inbound_ids(session, now=now + dt.timedelta(days=6)) == 0
        assert await api.purge_inbound_ids(session, now=now + dt.timedelta(days=7, minutes=1)) == 1
    async with db() as session:
        assert await session.scalar(select(func.count()).select_from(InboundMessage)) == 0
    async with db() as session, session.begin():  # a redelivery after the horizon is new again
        assert await api.record_inbound(session, _inbound("wamid.old"), org_id=1) is True


async def test_queue_message_is_idempotent_and_stores_the_reply(db) -> None:
    fallback = Template("reply_follow_up", "en", {"1": "Asha"})
    async with db() as session, session.begin():
        first = await _queue(session, fallback=fallback, appointment_id=7, patient_id=3, in_reply_to="wamid.A")
        again = await _queue(session, reply=Text("something else"))
        other = await _queue(session, key="k2")
    assert first == again != other
    async with db() as session:
        rows = (await session.execute(select(OutboundMessage).order_by(OutboundMessage.id))).scalars().all()
    assert len(rows) == 2
    assert reply_from_dict(rows[0].reply) == Text("Hello")
    assert reply_from_dict(rows[0].fallback) == fallback
    assert rows[0].status == OutboundState.QUEUED and rows[0].appointment_id == 7


async def test_queue_message_joins_the_callers_transaction(db) -> None:
    async with db() as session:
        await session.begin()
        await _queue(session)
        await session.rollback()
    async with db() as session:
        assert await session.scalar(select(func.count()).select_from(OutboundMessage)) == 0


def _status(status: str, *, pid: str = "wamid.OUT1", key: str | None = "k1", minute: int = 0,
            error_code: int | None = None) -> StatusUpdate:
    return StatusUpdate(channel=Channel.WHATSAPP, provider_message_id=pid, status=status,
                        timestamp=T0 + dt.timedelta(minutes=minute), idempotency_key=key, error_code=error_code)


async def _row(db, outbound_id: int) -> OutboundMessage:  # noqa: ANN001
    async with db() as session:
        return await session.get(OutboundMessage, outbound_id)


async def test_statuses_never_move_backwards(db) -> None:
    async with db() as session, session.begin():
        oid = await _queue(session)
        row = await session.get(OutboundMessage, oid)
        row.provider_message_id = "wamid.OUT1"
        row.status = OutboundState.SENT
    for status in ("read", "delivered", "sent", "read", "delivered"):
        async with db() as session, session.begin():
            await api.record_status(session, _status(status))
    row = await _row(db, oid)
    assert row.status == OutboundState.READ
    async with db() as session:
        stored = (await session.execute(select(OutboundStatus.status).order_by(OutboundStatus.status))).scalars().all()
    assert stored == ["delivered", "read", "sent"]  # one row per (message, status)


async def test_status_before_the_send_returned_is_kept_and_is_proof_of_sending(db) -> None:
    async with db() as session, session.begin():
        oid = await _queue(session)
    # The provider's "delivered" (carrying our key) arrives before the send job commits.
    async with db() as session, session.begin():
        await api.record_status(session, _status("delivered", pid="wamid.EARLY"))
    row = await _row(db, oid)
    assert row.provider_message_id == "wamid.EARLY"
    assert row.status == OutboundState.DELIVERED


async def test_status_without_our_key_waits_for_the_provider_id(db) -> None:
    async with db() as session, session.begin():
        oid = await _queue(session)
        await api.record_status(session, _status("delivered", pid="SM123", key=None))
    assert (await _row(db, oid)).status == OutboundState.QUEUED
    async with db() as session, session.begin():
        row = await session.get(OutboundMessage, oid)
        row.provider_message_id = "SM123"
        row.status = OutboundState.SENT
        await api.settle(session, row)
    row = await _row(db, oid)
    assert row.status == OutboundState.DELIVERED
    async with db() as session:
        assert await session.scalar(select(OutboundStatus.outbound_id)) == oid


async def test_failed_status_records_the_code_but_not_after_delivery(db) -> None:
    async with db() as session, session.begin():
        a = await _queue(session, key="a")
        b = await _queue(session, key="b")
        await api.record_status(session, _status("sent", pid="p-a", key="a"))
        await api.record_status(session, _status("failed", pid="p-a", key="a", error_code=131026))
        await api.record_status(session, _status("delivered", pid="p-b", key="b"))
        await api.record_status(session, _status("failed", pid="p-b", key="b", error_code=131000))
    row_a, row_b = await _row(db, a), await _row(db, b)
    assert (row_a.status, row_a.error_code) == (OutboundState.FAILED, "131026")
    assert row_b.status == OutboundState.DELIVERED


async def test_whatsapp_window_opens_for_24_hours_and_never_moves_back(db) -> None:
    args = dict(account="100000000000001", user_id="IN.111")
    async with db() as session, session.begin():
        assert not await api.window_open(session, **args, at=T0)
        await api.touch_window(session, **args, at=T0)
        await api.touch_window(session, **args, at=T0 - dt.timedelta(hours=5))  # an old redelivery
    async with db() as session:
        assert await api.window_open(session, **args, at=T0 + dt.timedelta(hours=23, minutes=59))
        assert not await api.window_open(session, **args, at=T0 + dt.timedelta(hours=24))


async def test_opt_out_and_back_in(db) -> None:
    args = dict(channel=Channel.SMS, recipient="+919800000001")
    async with db() as session, session.begin():
        assert not await api.is_opted_out(session, **args)
        await api.set_opt_out(session, **args, opted_out=True, source="sms:STOP", at=T0)
    async with db() as session, session.begin():
        assert await api.is_opted_out(session, **args)
        # an older event does not override a newer decision
        await api.set_opt_out(session, **args, opted_out=False, source="sms:START", at=T0 - dt.timedelta(minutes=1))
    async with db() as session, session.begin():
        assert await api.is_opted_out(session, **args)
        await api.set_opt_out(session, **args, opted_out=False, source="sms:START", at=T0 + dt.timedelta(minutes=1))
    async with db() as session:
        assert not await api.is_opted_out(session, **args)
