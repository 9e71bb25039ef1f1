"""Batched sends (`send_batch`, a reminder wave's path): the same checks as a single send,
done set-based; slots from the shared rate limiter; what does not fit goes on deferred.
Sends are counted at the emulator; rows are read back from the real database."""

from __future__ import annotations

import datetime as dt

from arq.constants import default_queue_name
from arq.utils import timestamp_ms

from bot.messages import Channel, Template
from bot.outbox import api
from bot.outbox.keys import SEND_BATCH_JOB, send_batch_job_id
from bot.outbox.limits import RateLimiter
from bot.outbox.models import OutboundState
from outbox_helpers import WA_USER, open_window, queue, row, run_burst
from workers.delivery import BATCH_LEAD_S, WAVE_RATE_SHARE, Deferred, enqueue_batches, send_rows

OTHER = "919800000077"
OPTED_OUT = "919800000078"
CLOSED = "919800000079"
TEMPLATE = Template(name="appointment_reminder", language="en",
                    params={"patient_first_name": "Asha"}, components=(), fallback_text="Reminder")


async def test_reserve_many_grants_the_slots_that_fit_and_turns_book_ahead(redis) -> None:
    limiter = RateLimiter(redis)
    slots = await limiter.reserve_many("sender:x", 5, per_s=10, max_wait_s=0.25)
    assert slots.granted == 3  # starts at 0, 0.1 and 0.2 s fit a 0.25 s wait; 0.3 does not
    assert [round(slots.wait_s(i), 2) for i in range(3)] == [0.0, 0.1, 0.2]
    rest = await limiter.reserve_many("sender:x", 2, per_s=10, max_wait_s=0.1)
    assert rest.granted == 0 and 0.2 < rest.retry_after_s <= 0.3  # nothing taken
    # Turns are booked however far ahead, on their own lane: the sender's slots stay free.
    assert await limiter.turn("wa:1", 50, per_s=10) < 0.01
    second = await limiter.turn("wa:1", 50, per_s=10)
    assert 4.9 < second <= 5.0
    assert (await limiter.reserve_many("sender:y", 1, per_s=10, max_wait_s=0)).granted == 1


async def test_a_batch_sends_each_owed_row_once_with_the_single_send_checks(ctx, emulator, db, clock) -> None:
    settings = emulator.settings
    for user in (WA_USER, OTHER, OPTED_OUT):
        await open_window(db, settings, clock.now, user=user)
    first = await queue(db, key="b-1")
    second = await queue(db, key="b-2")                                # same patient: goes after the first
    other = await queue(db, key="b-3", recipient=OTHER)
    opted = await queue(db, key="b-4", recipient=OPTED_OUT)
    closed = await queue(db, key="b-5", recipient=CLOSED)              # free-form, window closed, no template
    template = await queue(db, key="b-6", recipient=CLOSED, reply=TEMPLATE)  # a template needs no window
    async with db() as session, session.begin():
        await api.set_opt_out(session, channel=Channel.WHATSAPP, recipient=OPTED_OUT, opted_out=True,
                              source="test", at=clock.now)
    ids = [first, second, other, opted, closed, template]
    await ctx["redis"].enqueue_job(SEND_BATCH_JOB, ids, _job_id=send_batch_job_id(ids))
    await ctx["redis"].enqueue_job(SEND_BATCH_JOB, ids, _job_id=send_batch_job_id(ids))  # collapses
    await run_burst(ctx)

    assert [m["id"] for m in await emulator.sent("whatsapp", WA_USER)] == [
        (await row(db, first)).provider_message_id, (await row(db, second)).provider_message_id]
    assert await emulator.count("whatsapp", OTHER) == 1
    assert await emulator.count("whatsapp", OPTED_OUT) == 0
    assert await emulator.count("whatsapp", CLOSED) == 1  # the template only
    states = {oid: (await row(db, oid)).status for oid in ids}
    assert states[opted] == OutboundState.SUPPRESSED
    assert states[closed] == OutboundState.FAILED and (await row(db, closed)).error_code == "outside_window"
    assert all(states[oid] != OutboundState.QUEUED for oid in ids)
    assert [(await row(db, oid)).attempts for oid in (first, second, other, template)] == [1, 1, 1, 1]

    await ctx["redis"].enqueue_job(SEND_BATCH_JOB, ids, _job_id=send_batch_job_id(ids) + ":again")
    await run_burst(ctx)  # a second run of the same batch finds everything settled
    assert await emulator.count("whatsapp", WA_USER) == 2 and await emulator.count("whatsapp", CLOSED) == 1


async def test_a_batch_that_does_not_fit_the_rate_limit_goes_on_deferred(ctx, emulator, db, clock) -> None:
    settings = emulator.settings
    per_s = settings.whatsapp_rate_per_s * WAVE_RATE_SHARE
    # Another sender process holds the next 5 seconds of this number's slots.
    await RateLimiter(ctx["redis"]).reserve_many(f"sender:whatsapp:{settings.whatsapp_phone_id}", int(5 * per_s),
                                                 per_s=per_s, max_wait_s=60)
    users = [f"91980000010{i}" for i in range(3)]
    ids = [await queue(db, key=f"late-{i}", recipient=u, reply=TEMPLATE) for i, u in enumerate(users)]
    await ctx["redis"].enqueue_job(SEND_BATCH_JOB, ids, _job_id=send_batch_job_id(ids))
    await run_burst(ctx, max_jobs=1)

    assert [await emulator.count("whatsapp", u) for u in users] == [0, 0, 0]
    for oid in ids:
        waiting = await row(db, oid)
        assert waiting.status == OutboundState.QUEUED and waiting.lease_until is None
        assert waiting.attempts == 0  # a rate-limit wait is not a provider attempt
        assert waiting.due_at > clock.now + dt.timedelta(seconds=2)  # the sweep leaves it be meanwhile
    queued = await ctx["redis"].zrange(default_queue_name, 0, -1, withscores=True)
    [(job_id, score)] = [(j, s) for j, s in queued if j.decode().startswith(send_batch_job_id(ids) + ":at")]
    assert 2000 < score - timestamp_ms() <= 5500  # deferred until the backlog has drained


async def test_single_sends_keep_their_own_retry(ctx, emulator, db, clock) -> None:
    await open_window(db, emulator.settings, clock.now)
    oid = await queue(db, key="single-1")
    await emulator.fail_next("whatsapp", 131000)  # a transient provider error
    outcome = (await send_rows(ctx, [oid]))[oid]
    assert isinstance(outcome, Deferred) and outcome.counted
    failed = await row(db, oid)
    assert failed.attempts == 1 and failed.status == OutboundState.QUEUED and failed.lease_until is None
    assert (await send_rows(ctx, [oid]))[oid] == "sent"
    assert await emulator.count("whatsapp", WA_USER) == 1


async def test_a_wave_is_enqueued_as_batches_at_the_sender_pace(ctx, emulator, db, clock) -> None:
    ids = [await queue(db, key=f"wave-{i}", recipient=f"9198000002{i:02d}", reply=TEMPLATE, purpose="reminder")
           for i in range(220)]
    before_ms = timestamp_ms()
    await enqueue_batches(ctx["redis"], emulator.settings, [(i, "whatsapp", None) for i in ids])
    queued = sorted(await ctx["redis"].zrange(default_queue_name, 0, -1, withscores=True), key=lambda x: x[1])
    chunks = [ids[i:i + 50] for i in range(0, 220, 50)]
    assert [j.decode() for j, _ in queued] == [send_batch_job_id(c) for c in chunks]
    # Each batch's turn follows the last one's 50 slots; its job starts a little before it.
    per_s = emulator.settings.whatsapp_rate_per_s * WAVE_RATE_SHARE
    defers = [(score - before_ms) / 1000 for _, score in queued]
    expected = [max(k * 50 / per_s - BATCH_LEAD_S, 0.0) for k in range(len(chunks))]
    assert all(abs(d - e) < 0.1 for d, e in zip(defers, expected, strict=True)), (defers, expected)
