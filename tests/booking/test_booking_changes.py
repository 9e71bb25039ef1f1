"""Reschedule, cancel, leave over bookings, the ASAP list, completion, the event outbox."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select

from bot.booking import models as m
from bot.booking.errors import InvalidTransition, OutsidePolicy, SlotUnavailable
from bot.booking.types import Actor, AppointmentStatus

MON = dt.date(2026, 3, 2)
TUE = MON + dt.timedelta(days=1)


async def booked(service, clinic, start, *, type_id=None, doctor_id=None, patient_id=None):
    held = await service.hold(clinic.org_id, patient_id=patient_id or clinic.patient_id,
                              doctor_id=doctor_id or clinic.doctor_id, branch_id=clinic.branch_id,
                              appointment_type_id=type_id or clinic.type15_id, start=start)
    return await service.confirm(held.id)


async def test_reschedule_keeps_id_and_code_and_records_history(service, db, clinic, at):
    appt = await booked(service, clinic, at(TUE, 10))
    moved = await service.reschedule(appt.id, start=at(TUE, 10, 15), channel="sms")
    assert (moved.id, moved.code) == (appt.id, appt.code)
    assert moved.start == at(TUE, 10, 15) and moved.version == appt.version + 1
    free = {s.start for s in await service.free_slots(clinic.org_id, doctor_id=clinic.doctor_id, day=TUE,
                                                        limit=100)}
    assert at(TUE, 10) in free and at(TUE, 10, 15) not in free
    moved2 = await service.reschedule(appt.id, start=at(TUE, 15), doctor_id=clinic.doctor2_id)
    assert moved2.doctor_id == clinic.doctor2_id and moved2.id == appt.id
    async with db() as s:
        history = list(await s.scalars(select(m.AppointmentHistory).where(
            m.AppointmentHistory.appointment_id == appt.id).order_by(m.AppointmentHistory.id)))
    assert [h.action for h in history] == ["hold", "confirm", "reschedule", "reschedule"]
    assert history[2].from_start == at(TUE, 10) and history[2].to_start == at(TUE, 10, 15)
    assert history[3].from_doctor_id == clinic.doctor_id and history[3].channel is None
    types = [e.type for e in await service.pending_events()]
    assert types.count("appointment.updated") == 2


async def test_reschedule_onto_taken_time_changes_nothing(service, clinic, at):
    other = await service.find_or_create_patient(clinic.org_id, phone="+919845000333")
    mine = await booked(service, clinic, at(TUE, 10))
    await booked(service, clinic, at(TUE, 11), patient_id=other.id)
    with pytest.raises(SlotUnavailable):
        await service.reschedule(mine.id, start=at(TUE, 11))
    still = await service.get_appointment(mine.id)
    assert still.start == at(TUE, 10) and still.version == mine.version
    taken = {s.start for s in await service.free_slots(clinic.org_id, doctor_id=clinic.doctor_id, day=TUE,
                                                         limit=100)}
    assert at(TUE, 10) not in taken  # its cells were not released


async def test_cancel_policy_window_for_patients_not_staff(service, clinic, clock, at):
    appt = await booked(service, clinic, at(TUE, 10))
    clock.now = at(TUE, 8, 30)   # 90 minutes before, window is 120
    with pytest.raises(OutsidePolicy) as err:
        await service.cancel(appt.id, reason="busy")
    assert err.value.code == "OUTSIDE_POLICY" and err.value.details["rule"] == "cancel_window"
    with pytest.raises(OutsidePolicy):
        await service.reschedule(appt.id, start=at(TUE, 15))
    assert (await service.get_appointment(appt.id)).status == AppointmentStatus.CONFIRMED
    done = await service.cancel(appt.id, reason="doctor asked", actor=Actor.STAFF, channel="inbox")
    assert done.status == AppointmentStatus.CANCELLED
    with pytest.raises(InvalidTransition):
        await service.cancel(appt.id, reason="again", actor=Actor.STAFF)
    assert at(TUE, 10) in {s.start for s in await service.free_slots(
        clinic.org_id, doctor_id=clinic.doctor_id, day=TUE, limit=100)}


async def test_cancel_records_reason_actor_and_event(service, db, clinic, at):
    appt = await booked(service, clinic, at(TUE, 10))
    await service.cancel(appt.id, reason="feeling better", channel="whatsapp")
    async with db() as s:
        row = await s.get(m.Appointment, appt.id)
        audit = await s.scalar(select(m.AuditLog).where(m.AuditLog.action == "cancel"))
    assert row.cancel_reason == "feeling better" and row.cancelled_by == "patient"
    assert audit.actor == "patient" and audit.channel == "whatsapp"
    event = [e for e in await service.pending_events() if e.type == "appointment.cancelled"][0]
    assert event.payload["code"] == appt.code and event.payload["was"] == "confirmed"


async def test_leave_over_booking_marks_needs_reschedule(service, clinic, at):
    inside = await booked(service, clinic, at(TUE, 10))
    outside = await booked(service, clinic, at(TUE, 15))
    ids = await service.add_leave(clinic.doctor_id, at(TUE, 9), at(TUE, 13), "emergency")
    assert ids == [inside.id]
    flagged = await service.get_appointment(inside.id)
    assert flagged.needs_reschedule and flagged.status == AppointmentStatus.CONFIRMED
    assert not (await service.get_appointment(outside.id)).needs_reschedule
    events = [e for e in await service.pending_events() if e.type == "appointment.needs_reschedule"]
    assert [e.payload["appointment_id"] for e in events] == [inside.id]
    moved = await service.reschedule(inside.id, start=at(TUE, 14), actor=Actor.PATIENT)
    assert not moved.needs_reschedule


async def test_schedule_snapshot_over_booking_marks_it(service, clinic, at):
    appt = await booked(service, clinic, at(TUE, 10))
    ids = await service.import_availability_snapshot(clinic.doctor_id, clinic.branch_id, TUE,
                                                     [("14:00", "17:00")], 15)
    assert ids == [appt.id]


async def test_waitlist_join_leave(service, clinic, at):
    appt = await booked(service, clinic, at(TUE, 16))
    entry = await service.join_waitlist(clinic.org_id, patient_id=clinic.patient_id, doctor_id=clinic.doctor_id,
                                        branch_id=clinic.branch_id, appointment_id=appt.id,
                                        earliest=at(MON, 9), latest=at(TUE, 16), channel="whatsapp")
    assert entry.status == "active" and entry.appointment_id == appt.id
    assert [w.id for w in await service.waitlist_for(clinic.patient_id)] == [entry.id]
    left = await service.leave_waitlist(entry.id)
    assert left.status == "left" and await service.waitlist_for(clinic.patient_id) == []
    with pytest.raises(InvalidTransition):
        await service.leave_waitlist(entry.id)
    types = [e.type for e in await service.pending_events()]
    assert "waitlist.joined" in types and "waitlist.left" in types


async def test_earlier_slot_for(service, clinic, at):
    appt = await booked(service, clinic, at(TUE, 16))
    earlier = await service.earlier_slot_for(appt.id)
    assert earlier is not None and earlier.start == at(MON, 9) and earlier.doctor_id == clinic.doctor_id
    first = await booked(service, clinic, at(MON, 9), patient_id=(await service.find_or_create_patient(
        clinic.org_id, phone="+919845000444")).id)
    assert await service.earlier_slot_for(first.id) is None


async def test_upcoming_and_past_include_dependents(service, clinic, clock, at):
    child = await service.add_dependent(clinic.patient_id, name="Anu Sharma", relation="child",
                                        date_of_birth=dt.date(2019, 5, 1))
    assert child.account_holder_id == clinic.patient_id and child.phone == "+919845012345"
    a = await booked(service, clinic, at(MON, 9))
    b = await booked(service, clinic, at(TUE, 9), patient_id=child.id)
    assert [x.id for x in await service.appointments_for(clinic.patient_id)] == [a.id, b.id]
    assert [x.id for x in await service.appointments_for(clinic.patient_id, include_dependents=False)] == [a.id]
    clock.now = at(MON, 12)
    done = await service.mark_completed(a.id)
    assert done.status == AppointmentStatus.COMPLETED
    assert [x.id for x in await service.appointments_for(clinic.patient_id, upcoming=False)] == [a.id]
    assert [x.id for x in await service.appointments_for(clinic.patient_id)] == [b.id]
    with pytest.raises(InvalidTransition):
        await service.mark_no_show(a.id)


async def test_events_are_marked_processed(service, db, clinic, at):
    await booked(service, clinic, at(TUE, 10))
    events = await service.pending_events(limit=1)
    assert len(events) == 1
    await service.mark_events_processed([events[0].id])
    assert events[0].id not in [e.id for e in await service.pending_events()]
    async with db() as s:
        remaining = await s.scalar(select(func.count()).select_from(m.Event).where(m.Event.processed_at.is_(None)))
    assert remaining == 1


async def test_consent_latest_decision_wins(service, clinic):
    assert await service.has_consent(clinic.patient_id, channel="sms", purpose="marketing") is None
    await service.record_consent(clinic.patient_id, channel="sms", purpose="marketing", given=True, source="web")
    await service.record_consent(clinic.patient_id, channel="sms", purpose="marketing", given=False,
                                 source="sms:STOP")
    assert await service.has_consent(clinic.patient_id, channel="sms", purpose="marketing") is False
    assert await service.has_consent(clinic.patient_id, channel="whatsapp", purpose="marketing") is None
