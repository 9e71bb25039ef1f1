"""Replacing a doctor's weekly schedule: bookings that no longer fit are flagged, slots follow."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select

from bot.booking import models as m
from bot.booking.errors import InvalidInput, NotFound
from bot.booking.types import Actor

MON = dt.date(2026, 3, 2)            # today in the clinic (the fixture clock: Monday 08:00 IST)
NEXT_MON = MON + dt.timedelta(days=7)
NEXT_TUE = NEXT_MON + dt.timedelta(days=1)
# Monday shrinks to 09:00–13:00 + 14:00–16:00; every other working day keeps its hours.
SHORT_MONDAY = {0: [("09:00", "13:00"), ("14:00", "16:00")],
                **{wd: [("09:00", "13:00"), ("14:00", "17:00")] for wd in range(1, 6)}}


async def booked(service, clinic, start, *, type_id=None, doctor_id=None, patient_id=None):
    held = await service.hold(clinic.org_id, patient_id=patient_id or clinic.patient_id,
                              doctor_id=doctor_id or clinic.doctor_id, branch_id=clinic.branch_id,
                              appointment_type_id=type_id or clinic.type15_id, start=start)
    return await service.confirm(held.id)


async def starts(service, clinic, day):
    return {s.start for s in await service.free_slots(clinic.org_id, doctor_id=clinic.doctor_id, day=day,
                                                        limit=100)}


async def test_shrinking_monday_flags_only_monday_bookings_outside_new_hours(service, clinic, at, db):
    other = await service.find_or_create_patient(clinic.org_id, phone="+919845000555")
    fits = await booked(service, clinic, at(NEXT_MON, 10))
    fits_to_the_end = await booked(service, clinic, at(NEXT_MON, 15, 30), type_id=clinic.type30_id)
    late = await booked(service, clinic, at(NEXT_MON, 16, 30))
    straddles = await booked(service, clinic, at(MON, 15, 45), type_id=clinic.type30_id,
                             patient_id=other.id)
    today_late = await booked(service, clinic, at(MON, 16, 30), patient_id=other.id)
    tuesday_late = await booked(service, clinic, at(NEXT_TUE, 16, 30))
    other_doctor = await booked(service, clinic, at(NEXT_MON, 16, 30), doctor_id=clinic.doctor2_id)
    held_only = await service.hold(clinic.org_id, patient_id=other.id, doctor_id=clinic.doctor_id,
                                   branch_id=clinic.branch_id, appointment_type_id=clinic.type15_id,
                                   start=at(NEXT_MON, 16, 45))
    assert at(NEXT_MON, 16) in await starts(service, clinic, NEXT_MON)  # also warms the directory cache

    ids = await service.set_weekly_schedule(clinic.doctor_id, clinic.branch_id, SHORT_MONDAY, 15,
                                            channel="inbox")

    assert ids == [straddles.id, today_late.id, late.id]
    for appt in (fits, fits_to_the_end, tuesday_late, other_doctor):
        assert not (await service.get_appointment(appt.id)).needs_reschedule
    assert not (await service.get_appointment(held_only.id)).needs_reschedule
    flagged = await service.get_appointment(late.id)
    assert flagged.needs_reschedule and flagged.version == late.version + 1
    events = [e for e in await service.pending_events() if e.type == "appointment.needs_reschedule"]
    assert [e.payload["appointment_id"] for e in events] == ids
    assert {e.payload["reason"] for e in events} == {"schedule_change"}
    async with db() as s:
        audit = await s.scalar(select(m.AuditLog).where(m.AuditLog.action == "schedule.replaced"))
    assert audit.actor == str(Actor.STAFF) and audit.channel == "inbox" and audit.entity_id == clinic.doctor_id

    # Slots now follow the new schedule (the cached directory was dropped): nothing from 16:00 on Monday.
    offered = await starts(service, clinic, NEXT_MON)
    assert at(NEXT_MON, 14) in offered and at(NEXT_MON, 15) in offered
    assert max(offered) < at(NEXT_MON, 16)
    assert at(NEXT_TUE, 16, 45) in await starts(service, clinic, NEXT_TUE)


async def test_effective_from_keeps_the_old_hours_before_it(service, clinic, at, db):
    this_week = await booked(service, clinic, at(MON, 16, 30))
    ids = await service.set_weekly_schedule(clinic.doctor_id, clinic.branch_id, SHORT_MONDAY, 15,
                                            effective_from=NEXT_MON)
    assert ids == [] and not (await service.get_appointment(this_week.id)).needs_reschedule
    assert at(MON, 16, 45) in await starts(service, clinic, MON)
    assert max(await starts(service, clinic, NEXT_MON)) < at(NEXT_MON, 16)
    # Replacing again from the same day replaces, it does not stack.
    await service.set_weekly_schedule(clinic.doctor_id, clinic.branch_id, {0: [("10:00", "12:00")]}, 30,
                                      effective_from=NEXT_MON)
    assert await starts(service, clinic, NEXT_MON) == {at(NEXT_MON, 10), at(NEXT_MON, 10, 30),
                                                       at(NEXT_MON, 11), at(NEXT_MON, 11, 30)}
    assert await starts(service, clinic, NEXT_TUE) == set()
    async with db() as s:
        new_rows = await s.scalar(select(func.count()).select_from(m.Schedule).where(
            m.Schedule.doctor_id == clinic.doctor_id, m.Schedule.valid_from == NEXT_MON))
    assert new_rows == 1


async def test_per_date_override_keeps_its_day(service, clinic, at):
    kept = await booked(service, clinic, at(NEXT_MON, 16, 30))
    await service.import_availability_snapshot(clinic.doctor_id, clinic.branch_id, NEXT_MON,
                                               [("09:00", "17:00")], 15)
    ids = await service.set_weekly_schedule(clinic.doctor_id, clinic.branch_id, SHORT_MONDAY, 15)
    assert ids == [] and not (await service.get_appointment(kept.id)).needs_reschedule


@pytest.mark.parametrize(("change", "error"), [
    ({"doctor_id": 999_999}, NotFound),
    ({"branch_id": 999_999}, NotFound),
    ({"ranges": {7: [("09:00", "12:00")]}}, InvalidInput),
    ({"ranges": {-1: [("09:00", "12:00")]}}, InvalidInput),
    ({"ranges": {0: [("12:00", "12:00")]}}, InvalidInput),
    ({"ranges": {0: [("13:00", "09:00")]}}, InvalidInput),
    ({"ranges": {0: [("9 am", "12:00")]}}, InvalidInput),
    ({"slot_minutes": 0}, InvalidInput),
    ({"slot_minutes": -15}, InvalidInput),
])
async def test_bad_input_writes_nothing(service, clinic, at, db, change, error):
    appt = await booked(service, clinic, at(NEXT_MON, 16, 30))

    async def snapshot():
        async with db() as s:
            rows = sorted(tuple(r) for r in await s.execute(select(
                m.Schedule.id, m.Schedule.weekday, m.Schedule.start_time, m.Schedule.end_time,
                m.Schedule.valid_from, m.Schedule.valid_until)))
            audits = await s.scalar(select(func.count()).select_from(m.AuditLog))
        return rows, audits, len(await service.pending_events(limit=1000))

    before = await snapshot()
    args = {"doctor_id": clinic.doctor_id, "branch_id": clinic.branch_id, "ranges": {0: [("09:00", "12:00")]},
            "slot_minutes": 15, **change}
    with pytest.raises(error):
        await service.set_weekly_schedule(args["doctor_id"], args["branch_id"], args["ranges"],
                                          args["slot_minutes"])
    assert await snapshot() == before
    assert not (await service.get_appointment(appt.id)).needs_reschedule
