"""Sends to one recipient reach the provider in the order their rows were created, while
jobs run concurrently; a failed or not-yet-due earlier row holds nothing back."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select

from bot.messages import Channel, Text
from bot.outbox import api
from bot.outbox.models import DeadLetter, OutboundState
from outbox_helpers import SMS_USER, WA_USER, open_window, row, run_burst

TURN = ("Thank you!", "Your appointment is confirmed.", "How can I help you?")
ROUNDS = 8


async def _queue_turn(db: Any, channel: Channel, recipient: str, tag: str, texts: tuple[str, ...] = TURN,
                      **kw: Any) -> list[int]:
    """The replies of one turn, committed together as the dispatcher does."""
    async with db() as session, session.begin():
        return [await api.queue_message(session, org_id=1, channel=channel, recipient=recipient, reply=Text(text),
                                        purpose="reply", idempotency_key=f"{tag}:{i}", **kw)
                for i, text in enumerate(texts)]


async def _texts(emulator: Any, channel: str, user: str) -> list[str]:
    sent = await emulator.sent(channel, user)
    if channel == "whatsapp":
        return [entry["payload"]["text"]["body"] for entry in sent]
    return [entry["view"]["text"] for entry in sent]


async def test_a_turn_arrives_in_order_on_whatsapp_and_sms(ctx, emulator, db, clock) -> None:
    await open_window(db, emulator.settings, clock.now)
    expected: list[str] = []
    for n in range(ROUNDS):
        # Two turns per round, both queued before the worker runs: order holds across turns too.
        ids = []
        for turn in range(2):
            texts = tuple(f"{t} #{n}.{turn}" for t in TURN)
            expected.extend(texts)
            ids += await _queue_turn(db, Channel.WHATSAPP, WA_USER, f"wa-{n}-{turn}", texts)
            ids += await _queue_turn(db, Channel.SMS, SMS_USER, f"sms-{n}-{turn}", texts)
        # Enqueued newest first: the worker picks the later rows before the earlier ones.
        await api.enqueue_sends(ctx["redis"], list(reversed(ids)))
        await run_burst(ctx)
        assert await _texts(emulator, "whatsapp", WA_USER) == expected
        assert await _texts(emulator, "sms", SMS_USER) == expected
    for oid in ids:
        assert (await row(db, oid)).status != OutboundState.QUEUED


async def test_a_failed_earlier_row_does_not_block_later_ones(ctx, emulator, db, clock) -> None:
    await open_window(db, emulator.settings, clock.now)
    await emulator.fail_next("whatsapp", 131026)  # permanent: the first reply fails
    first, second, third = await _queue_turn(db, Channel.WHATSAPP, WA_USER, "fail")
    await api.enqueue_sends(ctx["redis"], [third, second, first])
    await run_burst(ctx)
    assert (await row(db, first)).status == OutboundState.FAILED
    assert await _texts(emulator, "whatsapp", WA_USER) == list(TURN[1:])


async def test_a_retried_earlier_row_goes_first_and_a_dead_letter_releases_the_rest(ctx, emulator, db, clock) -> None:
    ctx["max_provider_attempts"] = 2
    await open_window(db, emulator.settings, clock.now)
    # First turn: the first reply fails once (transient); the later two wait for its retry
    # (a burst worker runs until the deferred retry is done, ~2 s of backoff).
    await emulator.fail_next("whatsapp", 131000)
    first, second, third = await _queue_turn(db, Channel.WHATSAPP, WA_USER, "retry")
    await api.enqueue_sends(ctx["redis"], [first, second, third])
    await run_burst(ctx)
    assert await _texts(emulator, "whatsapp", WA_USER) == list(TURN)
    # waiting behind the first row is neither a provider attempt nor a failure
    assert [(await row(db, oid)).attempts for oid in (first, second, third)] == [2, 1, 1]
    # Second turn: the first reply fails on every try and is dead-lettered; the rest follow.
    await emulator.fail_next("whatsapp", 131000, count=2)
    dead, *rest = await _queue_turn(db, Channel.WHATSAPP, WA_USER, "dead")
    await api.enqueue_sends(ctx["redis"], [dead, *rest])
    await run_burst(ctx)
    assert (await row(db, dead)).status == OutboundState.FAILED
    async with db() as session:
        assert [d.outbound_id for d in (await session.execute(select(DeadLetter))).scalars()] == [dead]
    assert await _texts(emulator, "whatsapp", WA_USER) == list(TURN) + list(TURN[1:])


async def test_a_row_scheduled_for_later_holds_nothing_back(ctx, emulator, db, clock) -> None:
    await open_window(db, emulator.settings, clock.now)
    later = clock.now + dt.timedelta(hours=20)
    (reminder,) = await _queue_turn(db, Channel.WHATSAPP, WA_USER, "reminder", ("See you tomorrow",),
                                    not_before=later)
    replies = await _queue_turn(db, Channel.WHATSAPP, WA_USER, "now")
    await api.enqueue_sends(ctx["redis"], [reminder, *replies])
    await run_burst(ctx)
    assert await _texts(emulator, "whatsapp", WA_USER) == list(TURN)
    assert (await row(db, reminder)).status == OutboundState.QUEUED
