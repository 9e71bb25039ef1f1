"""Business-initiated notices on WhatsApp outside the 24-hour window go out as their
approved UTILITY template (the row's `fallback`), through the real send job to the
Graph emulator: hold expired, needs rescheduling, ASAP slot gone, unpaid booking released."""

from __future__ import annotations

from typing import Any

from bot.booking.types import Actor
from bot.outbox.api import enqueue_sends
from bot.payments.gateway import SandboxPaymentGateway
from workers.reminders import handle_reminder_reply
from worker_helpers import book, drain, ist, outbound, tick

WA = "919800000021"


async def delivered_templates(app: Any, user: str) -> list[tuple[str, str]]:
    """(template name, language) of every template the emulator received for `user`."""
    out = []
    for record in await app.sent("whatsapp", user):
        body = record["payload"]
        if body.get("type") == "template":
            out.append((body["template"]["name"], body["template"]["language"]["code"]))
    return out


async def test_expired_hold_goes_as_its_template(ctx, db, booking, clinic, clock, app):
    patient = await booking.find_or_create_patient(clinic.org_id, whatsapp_id=WA, name="Priya Sharma")
    await booking.hold(clinic.org_id, patient_id=patient.id, doctor_id=clinic.doctor_id,
                       branch_id=clinic.branch_id, appointment_type_id=clinic.type30_id,
                       start=ist(3, 10), channel="whatsapp")
    clock.set(ist(2, 9))
    await tick(ctx, deliver=True)
    await tick(ctx, deliver=True)
    [row] = await outbound(db, purpose="hold_expired")
    assert row.fallback["name"] == "hold_expired" and row.used_fallback
    assert row.fallback["params"]["first_name"] == "Priya"
    assert await delivered_templates(app, WA) == [("hold_expired", "en")]


async def test_needs_reschedule_goes_as_its_template(ctx, db, booking, clinic, clock, app):
    patient = await booking.find_or_create_patient(clinic.org_id, whatsapp_id=WA, name="Ravi Kumar")
    await book(booking, clinic, patient.id, ist(3, 10), channel="whatsapp")
    await booking.add_leave(clinic.doctor_id, ist(3, 9), ist(3, 13), reason="conference")
    await tick(ctx, deliver=True)
    [row] = await outbound(db, purpose="needs_reschedule")
    assert row.fallback["name"] == "needs_reschedule" and row.used_fallback
    assert [name for name, _ in await delivered_templates(app, WA)] == ["needs_reschedule"]


async def test_asap_slot_gone_goes_as_its_template(ctx, db, booking, clinic, clock, app):
    owner = await booking.find_or_create_patient(clinic.org_id, phone="98450 10000", name="Own Er")
    waiting = [await booking.find_or_create_patient(clinic.org_id, whatsapp_id=f"91980000003{i}", name=f"Pat{i} Test")
               for i in range(3)]
    freed = await book(booking, clinic, owner.id, ist(3, 10))
    for p in waiting:
        await booking.join_waitlist(clinic.org_id, patient_id=p.id, doctor_id=clinic.doctor_id)
    clock.set(ist(2, 10))
    await booking.cancel(freed.id, reason="cannot come", actor=Actor.PATIENT)
    await tick(ctx, deliver=True)
    won = await handle_reminder_reply(booking, db, org_id=clinic.org_id, channel="whatsapp",
                                      user_id=waiting[1].whatsapp_id, text_or_choice="1", now=clock.now)
    assert won.action == "accept"
    gone = [r for r in await outbound(db, purpose="asap_offer") if r.fallback is not None]
    await enqueue_sends(ctx["arq"], [r.id for r in gone])   # what the reply's caller does after commit
    await drain(ctx, deliver=True)
    for loser in (waiting[0], waiting[2]):
        names = [name for name, _ in await delivered_templates(app, loser.whatsapp_id)]
        assert names == ["asap_offer", "asap_slot_gone"]
    gone = [r for r in await outbound(db, purpose="asap_offer") if r.fallback is not None]
    assert len(gone) == 2 and all(r.used_fallback and r.fallback["name"] == "asap_slot_gone" for r in gone)


async def test_unpaid_release_goes_as_its_template(ctx, db, booking, clinic, clock, app):
    from bot.payments.followup import payment_followup

    patient = await booking.find_or_create_patient(clinic.org_id, whatsapp_id=WA, name="Priya Sharma")
    held = await booking.hold(clinic.org_id, patient_id=patient.id, doctor_id=clinic.tele_doctor_id,
                              branch_id=clinic.branch_id, appointment_type_id=clinic.tele_paid_id,
                              start=ist(3, 10), channel="whatsapp")
    pending = await booking.confirm(held.id)
    gateway = SandboxPaymentGateway(app.settings, booking, sessionmaker=db)
    await gateway.payment_link(pending)
    ctx["settings"] = ctx["settings"].with_(short_link_base="https://mm.test")
    clock.advance(minutes=16)
    await payment_followup(ctx)
    clock.advance(minutes=15)
    assert (await payment_followup(ctx))["released"] == 1
    await drain(ctx, deliver=True)
    released = [r for r in await outbound(db, purpose="payment") if r.fallback is not None]
    assert [r.fallback["name"] for r in released] == ["payment_released"] and released[0].used_fallback
    assert [name for name, _ in await delivered_templates(app, WA)][-1] == "payment_released"
