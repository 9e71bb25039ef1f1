"""Reminders: scheduled rows driven by booking events, sent at their (quiet-hours adjusted)
time by the sweep under a burst worker, once; moved and cancelled bookings kept in step."""

from __future__ import annotations

from typing import Any

from arq.constants import default_queue_name
from arq.worker import Worker
from sqlalchemy import select

from bot.booking.types import Actor
from workers import registry
from workers.models import ScheduledSend
from workers.policy import set_branch_policy
from workers.scheduled import LEADER_SPACING_SHARE, enqueue_scheduled, send_scheduled, sweep_scheduled
from worker_helpers import book, drain, ist, outbound, tick

PHONE = "+919845012345"
OPT_OUT_WORDS = ("STOP", "CANCEL", "END", "QUIT", "UNSUBSCRIBE", "STOPALL", "REVOKE", "OPTOUT")


async def rows_for(db: Any, appointment_id: int) -> list[ScheduledSend]:
    async with db() as s:
        return list((await s.scalars(select(ScheduledSend).where(ScheduledSend.appointment_id == appointment_id)
                                     .order_by(ScheduledSend.id))).all())


async def test_sms_reminders_go_at_24h_and_2h_once(ctx, db, booking, clinic, clock, app):
    patient = await booking.find_or_create_patient(clinic.org_id, phone="98450 12345", name="Priya Sharma")
    appt = await book(booking, clinic, patient.id, ist(3, 10))
    await tick(ctx)
    rows = await rows_for(db, appt.id)
    assert {(r.kind, r.offset_min, r.send_at) for r in rows} == {
        ("reminder", 1440, ist(2, 10)), ("reminder", 120, ist(3, 8))}
    assert await outbound(db, purpose="reminder") == []

    clock.set(ist(2, 10))
    await tick(ctx)
    await tick(ctx)  # a second sweep finds nothing owed
    sent = await outbound(db, purpose="reminder")
    assert [(r.channel, r.recipient) for r in sent] == [("sms", PHONE)]
    body = sent[0].reply["fallback_text"]
    assert "Reply 1 to confirm, 2 to reschedule, 3 to cancel" in body
    assert "Priya" in body and "Sharma" not in body and appt.code in body
    assert not any(word in body.split() for word in OPT_OUT_WORDS)

    clock.set(ist(3, 8))
    await tick(ctx)
    assert len(await outbound(db, purpose="reminder")) == 2
    assert [r.status for r in await rows_for(db, appt.id)] == ["sent", "sent"]


async def test_whatsapp_reminder_is_the_template_with_quick_replies(ctx, db, booking, clinic, clock, app):
    patient = await booking.find_or_create_patient(clinic.org_id, whatsapp_id="919800000011", name="Ravi Kumar")
    appt = await book(booking, clinic, patient.id, ist(3, 15), channel="whatsapp")
    await tick(ctx)
    clock.set(ist(2, 15))
    await tick(ctx)
    [row] = await outbound(db, purpose="reminder")
    assert row.channel == "whatsapp" and row.recipient == "919800000011"
    reply = row.reply
    assert reply["name"] == "appointment_reminder"
    payloads = [c["parameters"][0]["payload"] for c in reply["components"] if c["type"] == "button"]
    assert payloads == [f"appointment_reminder:{a}:{appt.code}" for a in ("confirm", "reschedule", "cancel")]


async def test_booked_after_the_reminder_time_skips_it(ctx, db, booking, clinic, clock):
    patient = await booking.find_or_create_patient(clinic.org_id, phone="98450 12345", name="Priya Sharma")
    clock.set(ist(2, 16))
    appt = await book(booking, clinic, patient.id, ist(3, 11))  # 19 h ahead: no 24 h reminder
    await tick(ctx)
    assert [(r.offset_min, r.send_at) for r in await rows_for(db, appt.id)] == [(120, ist(3, 9))]


async def test_quiet_hours_move_or_skip_reminders(ctx, db, booking, clinic, clock):
    async with db() as s, s.begin():
        await set_branch_policy(s, clinic.branch_id, quiet_start="16:30", quiet_end="08:45")
    patient = await booking.find_or_create_patient(clinic.org_id, phone="98450 12345", name="Priya Sharma")
    early = await book(booking, clinic, patient.id, ist(4, 9))       # 2 h → 08:45 is 15 min ahead: skipped
    later = await book(booking, clinic, patient.id, ist(4, 9, 30))   # 2 h → 08:45, 45 min ahead
    evening = await book(booking, clinic, patient.id, ist(4, 16, 45), type_id=clinic.type15_id)  # 24 h → 16:29
    await tick(ctx)
    assert [(r.offset_min, r.send_at) for r in await rows_for(db, early.id)] == [(1440, ist(3, 9))]
    assert [(r.offset_min, r.send_at) for r in await rows_for(db, later.id)] == [
        (1440, ist(3, 9, 30)), (120, ist(4, 8, 45))]
    assert [(r.offset_min, r.send_at) for r in await rows_for(db, evening.id)] == [
        (1440, ist(3, 16, 29)), (120, ist(4, 14, 45))]


async def test_reschedule_moves_the_reminder_and_cancel_kills_it(ctx, db, booking, clinic, clock, app):
    patient = await booking.find_or_create_patient(clinic.org_id, phone="98450 12345", name="Priya Sharma")
    moved = await book(booking, clinic, patient.id, ist(3, 10))
    gone = await book(booking, clinic, patient.id, ist(3, 14))
    await tick(ctx)
    old_rows = await rows_for(db, moved.id)
    # Enqueue the old reminder jobs now: they must find nothing to do when they run.
    await booking.reschedule(moved.id, start=ist(4, 11), actor=Actor.STAFF)
    await booking.cancel(gone.id, reason="patient called", actor=Actor.STAFF)
    await enqueue_scheduled(ctx["redis"], old_rows, now=ist(3, 10))
    await drain(ctx)
    assert await outbound(db, purpose="reminder") == []
    await tick(ctx)
    rows = await rows_for(db, moved.id)
    assert {(r.status, r.send_at) for r in rows} == {
        ("stale", ist(2, 10)), ("stale", ist(3, 8)), ("scheduled", ist(3, 11)), ("scheduled", ist(4, 9))}
    assert {r.status for r in await rows_for(db, gone.id)} == {"cancelled"}

    for moment in (ist(2, 10), ist(2, 14), ist(3, 8), ist(3, 10, 59)):
        clock.set(moment)
        await tick(ctx)
    assert await outbound(db, purpose="reminder") == []   # old times and the cancelled one: nothing
    clock.set(ist(3, 11))
    await tick(ctx)
    clock.set(ist(4, 9))
    await tick(ctx)
    sent = await outbound(db, purpose="reminder")
    assert [r.appointment_id for r in sent] == [moved.id, moved.id]


async def test_duplicate_enqueues_collapse_and_a_lost_deferral_is_still_sent_once(ctx, db, booking, clinic, clock, app):
    patient = await booking.find_or_create_patient(clinic.org_id, phone="98450 12345", name="Priya Sharma")
    appt = await book(booking, clinic, patient.id, ist(3, 10))
    await tick(ctx)
    await tick(ctx)  # the events again (already processed) and the sweep again: still two rows
    assert len(await rows_for(db, appt.id)) == 2
    clock.set(ist(2, 10, 1))
    assert await sweep_scheduled(ctx) == 1
    assert await sweep_scheduled(ctx) == 0   # same job id while queued: arq drops it
    rows = await rows_for(db, appt.id)
    assert await enqueue_scheduled(ctx["redis"], rows[:1], now=clock.now) == 0
    await drain(ctx)
    assert len(await outbound(db, purpose="reminder")) == 1
    # The 2 h reminder was handed to arq deferred and lost (drain drops deferred jobs):
    clock.set(ist(3, 7, 57))
    assert await sweep_scheduled(ctx) == 1
    await drain(ctx)          # its deferral (3 min, real time) is "lost" here
    clock.set(ist(3, 8, 5))   # the next sweep catches it
    await tick(ctx)
    await tick(ctx)
    assert len(await outbound(db, purpose="reminder")) == 2


async def test_reminder_reaches_the_patient_through_the_emulator(ctx, db, booking, clinic, clock, app):
    patient = await booking.find_or_create_patient(clinic.org_id, phone="98450 12345", name="Priya Sharma")
    await book(booking, clinic, patient.id, ist(3, 10))
    await tick(ctx, deliver=True)
    clock.set(ist(2, 10))
    await tick(ctx, deliver=True)
    await tick(ctx, deliver=True)
    sent = await app.sent("sms", PHONE)
    assert len(sent) == 1 and "Reply 1 to confirm" in sent[0]["view"]["text"]


async def test_a_reminder_wave_is_settled_in_batches_and_each_row_once(ctx, db, booking, clinic, clock):
    patients = [await booking.find_or_create_patient(clinic.org_id, phone=f"98450 1234{i}", name=f"Pat{i} Kumar")
                for i in range(4)]
    due = [await book(booking, clinic, p.id, ist(3, 10 + i)) for i, p in enumerate(patients[:3])]
    later = await book(booking, clinic, patients[3].id, ist(3, 16))
    await tick(ctx)
    clock.set(ist(2, 13))   # the 24 h reminders of the three morning visits are due, 16:00's is not
    first = next(r for r in await rows_for(db, due[0].id) if r.offset_min == 1440)

    assert await send_scheduled(ctx, first.id) == "sent"
    sent = await outbound(db, purpose="reminder")
    assert sorted(r.appointment_id for r in sent) == sorted(a.id for a in due)
    assert {r.status for r in await rows_for(db, later.id)} == {"scheduled"}
    for appt in due[1:]:  # the companions' own jobs find them done
        row = next(r for r in await rows_for(db, appt.id) if r.offset_min == 1440)
        assert row.status == "sent"
        assert await send_scheduled(ctx, row.id) == "noop"
    await tick(ctx)
    assert len(await outbound(db, purpose="reminder")) == 3



async def test_a_due_wave_goes_to_one_job_per_batch_fed_at_the_sender_pace(ctx, db, booking, clinic, clock, app,
                                                                         monkeypatch):
    monkeypatch.setattr("workers.scheduled.SEND_BATCH", 5)
    phones = [f"+9198450200{i:02d}" for i in range(12)]
    for i, phone in enumerate(phones):
        patient = await booking.find_or_create_patient(clinic.org_id, phone=phone, name=f"Pat{i} Kumar")
        await book(booking, clinic, patient.id, ist(3, 9 + i // 4, 15 * (i % 4)), type_id=clinic.type15_id)
    await tick(ctx)
    clock.set(ist(2, 12))  # all twelve 24 h reminders are due (09:00–11:45 yesterday's times)
    assert await sweep_scheduled(ctx) == 3  # leaders of 5 + 5 + 2, not one job per row
    queued = sorted(await ctx["redis"].zrange(default_queue_name, 0, -1, withscores=True), key=lambda x: x[1])
    assert [j.decode().startswith("reminder:") for j, _ in queued] == [True, True, True]
    spacing_s = LEADER_SPACING_SHARE * 5 / app.settings.whatsapp_rate_per_s
    gaps = [(b - a) / 1000 for (_, a), (_, b) in zip(queued, queued[1:])]
    assert all(abs(gap - spacing_s) < 0.03 for gap in gaps)
    worker = Worker(functions=registry.functions(), redis_pool=ctx["redis"], ctx=ctx, burst=True,
                    handle_signals=False, poll_delay=0.01, keep_result=0)
    await worker.async_run()  # real deferrals (tens of milliseconds), every send job included
    assert sorted(r.recipient for r in await outbound(db, purpose="reminder")) == phones
    assert [len(await app.sent("sms", phone)) for phone in phones] == [1] * 12
    assert await sweep_scheduled(ctx) == 0
