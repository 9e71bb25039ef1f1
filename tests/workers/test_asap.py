"""The ASAP cascade: a freed slot is held and offered to three matching waitlisted
patients, the first accept wins (a mover keeps their booking id), the others are told,
and the cascade moves on when the claim window closes."""

from __future__ import annotations

from sqlalchemy import select

from bot.booking import models as m
from bot.booking.types import Actor, AppointmentStatus
from workers.models import AsapOffer, AsapSlot
from workers.reminders import handle_reminder_reply
from worker_helpers import book, ist, outbound, tick


async def patients(booking, clinic, n):  # type: ignore[no-untyped-def]
    out = []
    for i in range(n):
        out.append(await booking.find_or_create_patient(clinic.org_id, phone=f"98450 1000{i}", name=f"Pat{i} Test"))
    return out


async def offers(db):  # type: ignore[no-untyped-def]
    async with db() as s:
        return list((await s.scalars(select(AsapOffer).order_by(AsapOffer.id))).all())


async def answer(booking, db, clinic, clock, patient, text):  # type: ignore[no-untyped-def]
    return await handle_reminder_reply(booking, db, org_id=clinic.org_id, channel="sms", user_id=patient.phone,
                                       text_or_choice=text, now=clock.now)


async def test_three_offered_first_accept_wins_others_told(ctx, db, booking, clinic, clock):
    owner, *waiting = await patients(booking, clinic, 5)
    freed = await book(booking, clinic, owner.id, ist(3, 10))
    for p in waiting:
        await booking.join_waitlist(clinic.org_id, patient_id=p.id, doctor_id=clinic.doctor_id)
    clock.set(ist(2, 10))
    await booking.cancel(freed.id, reason="cannot come", actor=Actor.PATIENT)
    await tick(ctx)

    first_round = await offers(db)
    assert [o.patient_id for o in first_round] == [p.id for p in waiting[:3]]     # first come, first served
    assert {o.status for o in first_round} == {"offered"}
    sent = await outbound(db, purpose="asap_offer")
    assert [r.reply["name"] for r in sent] == ["asap_offer"] * 3
    async with db() as s:
        slot = await s.scalar(select(AsapSlot))
        hold = await s.get(m.Appointment, slot.hold_appointment_id)
    assert hold.status == "held" and hold.start_at == ist(3, 10)                 # the system holds the slot
    # Nobody else can book it meanwhile.
    stranger = (await patients(booking, clinic, 6))[5]
    try:
        await book(booking, clinic, stranger.id, ist(3, 10))
        raise AssertionError("the held slot was booked")
    except Exception as exc:  # noqa: BLE001
        assert getattr(exc, "code", "") == "SLOT_UNAVAILABLE"

    clock.advance(minutes=5)
    won = await answer(booking, db, clinic, clock, waiting[1], "1")
    assert won.action == "accept"
    booked = await booking.get_appointment(won.appointment_id)
    assert (booked.patient_id, booked.start, booked.status) == (waiting[1].id, ist(3, 10), AppointmentStatus.CONFIRMED)
    late = await answer(booking, db, clinic, clock, waiting[0], "1")
    assert late.handled is False or late.action == "gone"
    statuses = {o.patient_id: o.status for o in await offers(db)}
    assert statuses == {waiting[0].id: "gone", waiting[1].id: "accepted", waiting[2].id: "gone"}
    told = [r.recipient for r in await outbound(db, purpose="asap_offer") if r.reply.get("type") != "template"
            and "name" not in r.reply]
    assert sorted(told) == sorted([waiting[0].phone, waiting[2].phone])


async def test_window_close_moves_on_and_a_mover_keeps_their_booking(ctx, db, booking, clinic, clock):
    owner, a, b, c, mover = await patients(booking, clinic, 5)
    freed = await book(booking, clinic, owner.id, ist(3, 10))
    later = await book(booking, clinic, mover.id, ist(5, 15))
    for p in (a, b, c):
        await booking.join_waitlist(clinic.org_id, patient_id=p.id, doctor_id=clinic.doctor_id)
    await booking.join_waitlist(clinic.org_id, patient_id=mover.id, doctor_id=clinic.doctor_id,
                                appointment_id=later.id)
    clock.set(ist(2, 10))
    await booking.cancel(freed.id, reason="cannot come", actor=Actor.PATIENT)
    await tick(ctx)
    assert [o.patient_id for o in await offers(db)] == [a.id, b.id, c.id]
    declined = await answer(booking, db, clinic, clock, b, "2")
    assert declined.action == "decline"

    clock.advance(minutes=14)
    await tick(ctx)
    assert len(await offers(db)) == 3            # window still open
    clock.advance(minutes=1, seconds=1)
    await tick(ctx)
    rounds = {o.patient_id: (o.round, o.status) for o in await offers(db)}
    assert rounds == {a.id: (1, "expired"), b.id: (1, "declined"), c.id: (1, "expired"), mover.id: (2, "offered")}

    taken = await answer(booking, db, clinic, clock, mover, "1")
    assert taken.appointment_id == later.id       # moved, same id and code
    moved = await booking.get_appointment(later.id)
    assert (moved.start, moved.code, moved.status) == (ist(3, 10), later.code, AppointmentStatus.CONFIRMED)
    async with db() as s:
        entry = await s.scalar(select(m.WaitlistEntry).where(m.WaitlistEntry.patient_id == mover.id))
    assert entry.status == "fulfilled"
