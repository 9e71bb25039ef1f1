"""The send job against the provider emulators: real pywa / twilio clients, real Redis
and database, a burst arq worker. Counts are taken at the emulator."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select

from bot.messages import Channel, Option, Buttons, Template, Text
from bot.outbox import api
from bot.outbox.keys import send_job_id
from bot.outbox.models import DeadLetter, OutboundState
from outbox_helpers import SMS_USER, WA_USER, eventually, fast_forward_job, open_window, queue, row, run_burst, run_cli

FALLBACK = Template("follow_up", "en", {"1": "Asha"},
                    components=({"type": "body", "parameters": [{"type": "text", "text": "Asha"}]},),
                    fallback_text="Hi Asha, please reply to continue.")


async def test_whatsapp_reply_is_sent_once_with_our_key_and_statuses_follow(ctx, emulator, db, clock) -> None:
    await open_window(db, emulator.settings, clock.now)
    oid = await queue(db, key="in:whatsapp:wamid.A:0",
                      reply=Buttons("Confirm?", (Option("y", "Yes"), Option("n", "No"))))
    for _ in range(3):  # duplicate enqueues collapse into one job
        await api.enqueue_sends(ctx["redis"], [oid])
    await run_burst(ctx)
    sent = await emulator.sent("whatsapp", WA_USER)
    assert len(sent) == 1
    assert sent[0]["callback_data"] == "in:whatsapp:wamid.A:0"
    assert sent[0]["view"]["kind"] == "buttons"
    stored = await row(db, oid)
    assert stored.provider_message_id == sent[0]["id"]
    # sent → delivered → read come back by signed webhook; the row ends at read
    async def is_read() -> bool:
        return (await row(db, oid)).status == OutboundState.READ
    await eventually(is_read)
    # an enqueue after the send runs the job again, which finds the row sent and skips
    await api.enqueue_sends(ctx["redis"], [oid])
    await run_burst(ctx)
    assert await emulator.count("whatsapp", WA_USER) == 1


async def test_sms_reply_goes_through_twilio_with_the_key_in_the_callback(ctx, emulator, db) -> None:
    oid = await queue(db, key="in:sms:SM1:0", channel=Channel.SMS, reply=Text("See you at 10:30"))
    await api.enqueue_sends(ctx["redis"], [oid, oid])
    await run_burst(ctx)
    assert await emulator.count("sms", SMS_USER) == 1
    stored = await row(db, oid)
    assert stored.provider_message_id and stored.provider_message_id.startswith("SM")

    async def delivered() -> bool:
        return (await row(db, oid)).status == OutboundState.DELIVERED
    await eventually(delivered)


async def test_throughput_error_retries_with_backoff_then_sends_once(ctx, emulator, db, clock) -> None:
    await open_window(db, emulator.settings, clock.now)
    oid = await queue(db, key="k-throughput")
    await emulator.fail_next("whatsapp", 130429)
    await api.enqueue_sends(ctx["redis"], [oid])
    worker = await run_burst(ctx, max_jobs=1)
    assert worker.jobs_retried == 1
    stored = await row(db, oid)
    assert (stored.status, stored.attempts, stored.error_code) == (OutboundState.QUEUED, 1, "130429")
    assert stored.due_at > clock.now  # the sweep leaves it alone while it waits
    deferred_s = await fast_forward_job(ctx, send_job_id(oid))
    assert deferred_s >= 1.0  # at least the provider's retry-after, backed off
    await run_burst(ctx)
    assert await emulator.count("whatsapp", WA_USER) == 1
    assert (await row(db, oid)).status != OutboundState.QUEUED


async def test_permanent_error_is_recorded_and_not_retried(ctx, emulator, db, clock) -> None:
    await open_window(db, emulator.settings, clock.now)
    oid = await queue(db, key="k-undeliverable")
    await emulator.fail_next("whatsapp", 131026)
    await api.enqueue_sends(ctx["redis"], [oid])
    worker = await run_burst(ctx)
    assert worker.jobs_retried == 0
    stored = await row(db, oid)
    assert (stored.status, stored.error_code) == (OutboundState.FAILED, "131026")
    assert await emulator.count("whatsapp", WA_USER) == 0


async def test_re_engagement_error_sends_the_template_fallback(ctx, emulator, db, clock) -> None:
    await open_window(db, emulator.settings, clock.now)  # we think the window is open; Meta disagrees
    oid = await queue(db, key="k-131047", fallback=FALLBACK)
    await emulator.fail_next("whatsapp", 131047)
    await api.enqueue_sends(ctx["redis"], [oid])
    await run_burst(ctx)
    sent = await emulator.sent("whatsapp", WA_USER)
    assert [m["view"]["kind"] for m in sent] == ["template"]
    assert sent[0]["payload"]["template"]["name"] == "follow_up"
    stored = await row(db, oid)
    assert stored.used_fallback and stored.provider_message_id == sent[0]["id"]


async def test_outside_the_window_only_a_template_goes(ctx, emulator, db) -> None:
    # no inbound from this user in 24 hours: free-form is never attempted
    with_fallback = await queue(db, key="k-closed-1", fallback=FALLBACK)
    without = await queue(db, key="k-closed-2", recipient="919800000009")
    template = await queue(db, key="k-closed-3", recipient="919800000008", reply=FALLBACK)
    await api.enqueue_sends(ctx["redis"], [with_fallback, without, template])
    await run_burst(ctx)
    assert [m["view"]["kind"] for m in await emulator.sent("whatsapp", WA_USER)] == ["template"]
    assert await emulator.count("whatsapp", "919800000009") == 0
    assert await emulator.count("whatsapp", "919800000008") == 1
    failed = await row(db, without)
    assert (failed.status, failed.error_code) == (OutboundState.FAILED, "outside_window")


async def test_opted_out_recipient_gets_nothing_but_the_confirmation(ctx, emulator, db, clock) -> None:
    async with db() as session, session.begin():
        await api.set_opt_out(session, channel=Channel.SMS, recipient=SMS_USER, opted_out=True,
                              source="sms:STOP", at=clock.now)
    reminder = await queue(db, key="k-optout-1", channel=Channel.SMS, purpose="reminder")
    confirmation = await queue(db, key="k-optout-2", channel=Channel.SMS, purpose=api.OPT_OUT_CONFIRMATION,
                               reply=Text("You will get no more messages. Reply START to undo."))
    await api.enqueue_sends(ctx["redis"], [reminder, confirmation])
    await run_burst(ctx)
    sent = await emulator.sent("sms", SMS_USER)
    assert len(sent) == 1 and "START" in str(sent[0])
    assert (await row(db, reminder)).status == OutboundState.SUPPRESSED


async def test_provider_opt_out_error_suppresses_later_sends(ctx, emulator, db) -> None:
    first = await queue(db, key="k-21610-1", channel=Channel.SMS)
    await emulator.fail_next("sms", 21610)
    await api.enqueue_sends(ctx["redis"], [first])
    await run_burst(ctx)
    assert (await row(db, first)).error_code == "21610"
    second = await queue(db, key="k-21610-2", channel=Channel.SMS)
    await api.enqueue_sends(ctx["redis"], [second])
    await run_burst(ctx)
    assert (await row(db, second)).status == OutboundState.SUPPRESSED
    assert await emulator.count("sms", SMS_USER) == 0


async def test_dead_letter_on_the_last_try(ctx, emulator, db, clock) -> None:
    ctx["max_provider_attempts"] = 2
    await open_window(db, emulator.settings, clock.now)
    oid = await queue(db, key="k-dead")
    await emulator.fail_next("whatsapp", 131000, count=2)  # transient, twice
    await api.enqueue_sends(ctx["redis"], [oid])
    await run_burst(ctx, max_jobs=1)
    await fast_forward_job(ctx, send_job_id(oid))
    await run_burst(ctx)
    stored = await row(db, oid)
    assert (stored.status, stored.error_code, stored.attempts) == (OutboundState.FAILED, "131000", 2)
    async with db() as session:
        letters = (await session.execute(select(DeadLetter))).scalars().all()
    assert [(d.outbound_id, d.error_code, d.attempts) for d in letters] == [(oid, "131000", 2)]
    assert await emulator.count("whatsapp", WA_USER) == 0


async def test_sweep_resends_a_due_row_whose_job_was_lost_exactly_once(ctx, emulator, db, clock, redis) -> None:
    await open_window(db, emulator.settings, clock.now)
    lost = await queue(db, key="k-lost")
    later = await queue(db, key="k-later", recipient="919800000007",
                        not_before=clock.now + dt.timedelta(hours=2), reply=FALLBACK)
    await api.enqueue_sends(ctx["redis"], [lost])
    await redis.flushdb()  # Redis lost its data: the job is gone, the row is not
    await run_burst(ctx)
    assert await emulator.count("whatsapp", WA_USER) == 0

    async def sweep() -> None:
        clock.advance(seconds=1)
        await ctx["redis"].enqueue_job("sweep_outbox")
        await run_burst(ctx)

    await sweep()
    await sweep()  # a second sweep finds nothing owed
    assert await emulator.count("whatsapp", WA_USER) == 1
    assert await emulator.count("whatsapp", "919800000007") == 0  # not due yet
    clock.advance(hours=2)
    await sweep()
    await sweep()
    assert await emulator.count("whatsapp", "919800000007") == 1
    assert (await row(db, later)).status != OutboundState.QUEUED


async def test_a_job_that_runs_early_waits_for_the_sweep(ctx, emulator, db, clock) -> None:
    oid = await queue(db, key="k-early", reply=FALLBACK, not_before=clock.now + dt.timedelta(minutes=30))
    await api.enqueue_sends(ctx["redis"], [oid])  # enqueued without a defer: runs now, too early
    await run_burst(ctx)
    assert await emulator.count("whatsapp", WA_USER) == 0
    clock.advance(minutes=31)
    await ctx["redis"].enqueue_job("sweep_outbox")
    await run_burst(ctx)
    assert await emulator.count("whatsapp", WA_USER) == 1


async def test_purge_cron_job_forgets_old_inbound_ids(ctx, emulator, db, clock) -> None:
    from bot.messages import Inbound, InboundKind
    from bot.outbox.models import InboundMessage

    inbound = Inbound(channel=Channel.SMS, account="+15005550006", user_id=SMS_USER, message_id="SMold",
                      timestamp=clock.now, kind=InboundKind.TEXT, text="hi")
    async with db() as session, session.begin():
        await api.record_inbound(session, inbound, org_id=1)
    clock.advance(days=8)
    await ctx["redis"].enqueue_job("purge_inbound_ids")
    await run_burst(ctx)
    async with db() as session:
        assert await session.scalar(select(func.count()).select_from(InboundMessage)) == 0


async def test_dead_letters_are_listed_and_replayed_by_the_cli(ctx, emulator, db, clock) -> None:
    ctx["max_provider_attempts"] = 1
    await open_window(db, emulator.settings, clock.now)
    oid = await queue(db, key="k-replay")
    await emulator.fail_next("whatsapp", 131000)
    await api.enqueue_sends(ctx["redis"], [oid])
    await run_burst(ctx)
    async with db() as session:
        letter_id = await session.scalar(select(DeadLetter.id))
    listing = await run_cli(emulator.settings, "dead-letters")
    assert f"{letter_id}\t{oid}\twhatsapp\treply\t131000" in listing
    assert "Your appointment" not in listing  # ids and codes only, never the text

    assert "replayed 1" in await run_cli(emulator.settings, "replay-dead-letter", str(letter_id))
    await run_burst(ctx)
    assert await emulator.count("whatsapp", WA_USER) == 1
    assert (await row(db, oid)).provider_message_id is not None
    assert "no dead letters" in await run_cli(emulator.settings, "dead-letters")
    assert "replayed 0" in await run_cli(emulator.settings, "replay-dead-letter", "--all")
