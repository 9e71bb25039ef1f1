"""The outbox API on the real database: inbound dedupe, idempotent queueing, statuses
that never move backwards (and may beat the send), WhatsApp windows, opt-outs."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import event, func, select

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


async def test_queue_messages_queues_a_batch_in_order_and_idempotently(db) -> None:
    def message(key: str, text: str = "Hello") -> dict:
        return dict(org_id=1, channel=Channel.SMS, recipient="+919800000001", reply=Text(text),
                    purpose="reminder", idempotency_key=key, appointment_id=9)

    async with db() as session, session.begin():
        known = await _queue(session, key="b")
        assert await api.queue_messages(session, []) == []
        ids = await api.queue_messages(session, [message("a"), message("b", "new"), message("c"), message("a")])
    assert ids[1] == known and ids[0] == ids[3] and len({ids[0], ids[1], ids[2]}) == 3
    async with db() as session:
        rows = {r.idempotency_key: r for r in (await session.execute(select(OutboundMessage))).scalars()}
    assert sorted(rows) == ["a", "b", "c"] and rows["a"].id == ids[0] and rows["c"].id == ids[2]
    assert reply_from_dict(rows["b"].reply) == Text("Hello")  # the one already queued is kept as it was
    assert rows["c"].channel == "sms" and rows["c"].appointment_id == 9 and rows["c"].status == OutboundState.QUEUED


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


class _Statements:
    """Counts the SQL statements the engine runs (an executemany counts once)."""

    def __init__(self, engine) -> None:  # noqa: ANN001
        self.engine, self.count = engine.sync_engine, 0

    def _seen(self, *_args) -> None:  # noqa: ANN002
        self.count += 1

    def __enter__(self) -> "_Statements":
        event.listen(self.engine, "before_cursor_execute", self._seen)
        return self

    def __exit__(self, *_exc) -> None:  # noqa: ANN002
        event.remove(self.engine, "before_cursor_execute", self._seen)


async def test_a_batch_of_several_messages_statuses_is_recorded_set_based(db, engine) -> None:
    async with db() as session, session.begin():
        sent = await _queue(session, key="sent")
        early = await _queue(session, key="early")
        sms = await _queue(session, key="sms", channel=Channel.SMS)
        failing = await _queue(session, key="failing")
        row = await session.get(OutboundMessage, sent)
        row.provider_message_id, row.status = "wamid.SENT", OutboundState.SENT
    # An earlier webhook already carried one of them, and an SMS status without our key.
    async with db() as session, session.begin():
        await api.record_statuses(session, [_status("sent", pid="wamid.SENT", key="sent"),
                                            _status("delivered", pid="SM1", key=None)])
    batch = [
        _status("read", pid="wamid.SENT", key="sent", minute=3),        # read before delivered
        _status("delivered", pid="wamid.SENT", key="sent", minute=2),
        _status("sent", pid="wamid.SENT", key="sent", minute=9),        # a redelivery: kept once
        _status("delivered", pid="wamid.EARLY", key="early", minute=5),  # the send has not returned yet
        _status("sent", pid="wamid.EARLY", key="early", minute=4),
        _status("delivered", pid="wamid.EARLY", key="early", minute=6),  # duplicate inside the batch
        _status("sent", pid="wamid.FAIL", key="failing", minute=1),
        _status("failed", pid="wamid.FAIL", key="failing", minute=2, error_code=131026),
        _status("read", pid="wamid.NOBODY", key="nobody"),              # no such row: kept unmatched
    ]
    with _Statements(engine) as statements:
        async with db() as session, session.begin():
            await api.record_statuses(session, batch)
    assert statements.count <= 8  # begin, lock, insert, select, row updates, commit: not per status

    rows = {oid: await _row(db, oid) for oid in (sent, early, sms, failing)}
    assert rows[sent].status == OutboundState.READ
    assert (rows[early].status, rows[early].provider_message_id) == (OutboundState.DELIVERED, "wamid.EARLY")
    assert rows[early].sent_at == T0 + dt.timedelta(minutes=4)
    assert (rows[failing].status, rows[failing].error_code) == (OutboundState.FAILED, "131026")
    assert rows[sms].status == OutboundState.QUEUED  # waits for its provider id
    async with db() as session:
        stored = (await session.execute(
            select(OutboundStatus.provider_message_id, OutboundStatus.status, OutboundStatus.outbound_id,
                   OutboundStatus.occurred_at)
            .order_by(OutboundStatus.provider_message_id, OutboundStatus.status))).all()
    assert [(p, s, o) for p, s, o, _ in stored] == [
        ("SM1", "delivered", None),
        ("wamid.EARLY", "delivered", early), ("wamid.EARLY", "sent", early),
        ("wamid.FAIL", "failed", failing), ("wamid.FAIL", "sent", failing),
        ("wamid.NOBODY", "read", None),
        ("wamid.SENT", "delivered", sent), ("wamid.SENT", "read", sent), ("wamid.SENT", "sent", sent),
    ]
    # The first copy wins: the "sent" of the earlier webhook, the first "delivered" of the batch.
    occurred = {(p, s): at for p, s, _, at in stored}
    assert occurred[("wamid.SENT", "sent")] == T0
    assert occurred[("wamid.EARLY", "delivered")] == T0 + dt.timedelta(minutes=5)

    # A later batch never moves a row backwards.
    async with db() as session, session.begin():
        await api.record_statuses(session, [_status("delivered", pid="wamid.SENT", key="sent"),
                                            _status("sent", pid="wamid.EARLY", key="early")])
    assert (await _row(db, sent)).status == OutboundState.READ
    assert (await _row(db, early)).status == OutboundState.DELIVERED


async def test_settle_many_applies_known_statuses_with_one_select(db, engine) -> None:
    async with db() as session, session.begin():
        ids = [await _queue(session, key=f"m{i}", channel=Channel.SMS) for i in range(30)]
        # Statuses that beat the sends: without our key (matched by the id the send returns)…
        await api.record_statuses(session, [_status("delivered", pid=f"SM{i}", key=None) for i in range(15)])
        # …and with it (matched by key, before any provider id is known).
        await api.record_statuses(session, [_status("sent", pid=f"SM{i}", key=f"m{i}") for i in range(15, 30)])
    async with db() as session, session.begin():
        rows = list(await session.scalars(select(OutboundMessage).where(OutboundMessage.id.in_(ids))
                                          .order_by(OutboundMessage.id).with_for_update()))
        with _Statements(engine) as statements:
            await api.settle_many(session, rows, also_provider_ids={row.id: f"SM{i}" for i, row in enumerate(rows)})
        assert statements.count == 2  # one SELECT of the statuses, one UPDATE matching the unmatched
        assert [row.status for row in rows] == [OutboundState.DELIVERED] * 15 + [OutboundState.SENT] * 15
        assert [row.provider_message_id for row in rows[15:]] == [f"SM{i}" for i in range(15, 30)]
    async with db() as session:
        matched = dict((await session.execute(
            select(OutboundStatus.provider_message_id, OutboundStatus.outbound_id))).all())
    assert matched == {f"SM{i}": ids[i] for i in range(30)}


async def test_a_batch_larger_than_a_statement_chunk(db) -> None:
    async with db() as session, session.begin():
        ids = [await _queue(session, key=f"big{i}") for i in range(400)]
    batch = [_status(status, pid=f"wamid.big{i}", key=f"big{i}", minute=minute)
             for i in range(400) for minute, status in enumerate(("read", "sent", "delivered"))]
    async with db() as session, session.begin():
        await api.record_statuses(session, batch)
    async with db() as session:
        assert await session.scalar(select(func.count()).select_from(OutboundStatus)
                                    .where(OutboundStatus.outbound_id.is_not(None))) == 1200
        statuses = set((await session.scalars(select(OutboundMessage.status)
                                              .where(OutboundMessage.id.in_(ids)))).all())
    assert statuses == {OutboundState.READ}
