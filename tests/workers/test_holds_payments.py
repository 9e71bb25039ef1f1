"""Holds that expire are released and the patient told; bookings that need a new time get
times offered (and a pick moves them); the sandbox gateway's capture confirms and sends the
receipt; unpaid bookings are reminded, then released."""

from __future__ import annotations

from sqlalchemy import select

from bot.booking.types import AppointmentStatus
from bot.messages import Choices
from bot.outbox.serialize import reply_from_dict
from bot.payments.gateway import SandboxPaymentGateway
from workers.models import PaymentLink
from workers.reminders import handle_reminder_reply
from worker_helpers import book, ist, outbound, tick

PHONE = "+919845012345"


async def test_expired_hold_is_released_and_the_patient_told(ctx, db, booking, clinic, clock):
    patient = await booking.find_or_create_patient(clinic.org_id, phone="98450 12345", name="Priya Sharma")
    held = await booking.hold(clinic.org_id, patient_id=patient.id, doctor_id=clinic.doctor_id,
                              branch_id=clinic.branch_id, appointment_type_id=clinic.type30_id,
                              start=ist(3, 10), channel="sms")
    clock.set(ist(2, 9))   # 10-minute hold, one hour later
    await tick(ctx)
    await tick(ctx)
    assert (await booking.get_appointment(held.id)).status == AppointmentStatus.EXPIRED
    [notice] = await outbound(db, purpose="hold_expired")
    assert (notice.recipient, notice.appointment_id) == (PHONE, held.id)
    assert "released" in notice.reply["body"]


async def test_needs_rescheduling_offers_new_times_and_a_pick_moves_it(ctx, db, booking, clinic, clock):
    patient = await booking.find_or_create_patient(clinic.org_id, phone="98450 12345", name="Priya Sharma")
    appt = await book(booking, clinic, patient.id, ist(3, 10))
    await booking.add_leave(clinic.doctor_id, ist(3, 9), ist(3, 13), reason="conference")
    await tick(ctx)
    [row] = await outbound(db, purpose="needs_reschedule")
    menu = reply_from_dict(row.reply)
    assert isinstance(menu, Choices) and len(menu.options) == 4   # three times + "other times"
    pick = menu.options[0].id
    result = await handle_reminder_reply(booking, db, org_id=clinic.org_id, channel="sms", user_id=PHONE,
                                         text_or_choice=pick, now=clock.now)
    assert (result.action, result.appointment_id) == ("reschedule", appt.id)
    moved = await booking.get_appointment(appt.id)
    assert moved.start == ist(2, 9) or moved.start > ist(2, 8, 30)
    assert not moved.needs_reschedule and moved.start != ist(3, 10)


async def test_capture_confirms_and_queues_the_receipt(ctx, db, booking, clinic, clock, app):
    patient = await booking.find_or_create_patient(clinic.org_id, phone="98450 12345", name="Priya Sharma")
    held = await booking.hold(clinic.org_id, patient_id=patient.id, doctor_id=clinic.tele_doctor_id,
                              branch_id=clinic.branch_id, appointment_type_id=clinic.tele_paid_id,
                              start=ist(3, 10), channel="sms")
    pending = await booking.confirm(held.id)
    gateway = SandboxPaymentGateway(app.settings, booking, sessionmaker=db)
    url, reference = await gateway.payment_link(pending)
    assert url == f"{app.settings.public_url}/sandbox/pay/{reference}"
    assert await gateway.payment_link(pending) == (url, reference)   # the same open link again
    async with app.http.get(url) as resp:
        assert resp.status == 200 and "500.00 INR" in await resp.text()
    async with app.http.post(url) as resp:
        assert resp.status == 200
    assert (await booking.get_appointment(pending.id)).status == AppointmentStatus.CONFIRMED
    async with app.http.post(url) as resp:   # paying twice changes nothing
        assert resp.status == 200
    [receipt] = await outbound(db, purpose="payment")
    assert receipt.reply["name"] == "payment_receipt" and receipt.appointment_id == pending.id
    async with db() as s:
        link = await s.scalar(select(PaymentLink).where(PaymentLink.reference == reference))
    assert link.status == "captured" and link.captured_at is not None


async def test_unpaid_booking_is_reminded_then_released(ctx, db, booking, clinic, clock, app):
    patient = await booking.find_or_create_patient(clinic.org_id, phone="98450 12345", name="Priya Sharma")
    held = await booking.hold(clinic.org_id, patient_id=patient.id, doctor_id=clinic.tele_doctor_id,
                              branch_id=clinic.branch_id, appointment_type_id=clinic.tele_paid_id,
                              start=ist(3, 10), channel="sms")
    pending = await booking.confirm(held.id)
    gateway = SandboxPaymentGateway(app.settings, booking, sessionmaker=db)
    _url, reference = await gateway.payment_link(pending)
    from bot.payments.followup import payment_followup

    ctx["settings"] = ctx["settings"].with_(short_link_base="https://mm.test")
    clock.advance(minutes=16)
    assert await payment_followup(ctx) == {"reminded": 1, "released": 0}
    assert await payment_followup(ctx) == {"reminded": 0, "released": 0}
    [reminder] = await outbound(db, purpose="payment")
    assert reminder.reply["name"] == "payment_link"
    assert reminder.reply["params"]["payment_link"] == f"https://mm.test/p/{reference}"
    async with app.http.get(f"{app.settings.public_url}/p/{reference}", allow_redirects=False) as resp:
        assert resp.headers["Location"] == f"/sandbox/pay/{reference}"
    clock.advance(minutes=15)
    assert await payment_followup(ctx) == {"reminded": 0, "released": 1}
    assert (await booking.get_appointment(pending.id)).status == AppointmentStatus.CANCELLED
    assert len(await outbound(db, purpose="payment")) == 2
    async with app.http.post(f"{app.settings.public_url}/sandbox/pay/{reference}") as resp:
        assert resp.status == 409   # too late: nothing captured
