"""Slot search: schedules in the branch's zone, stored UTC, never past/leave/holiday/outside the window."""

from __future__ import annotations

import datetime as dt

from bot.booking import models as m
from bot.booking.types import AppointmentStatus, PartOfDay

UTC = dt.timezone.utc
MON = dt.date(2026, 3, 2)


async def test_slots_are_generated_in_kolkata_and_stored_utc(service, clinic, at):
    slots = await service.free_slots(clinic.org_id, doctor_id=clinic.doctor_id, day=MON, limit=100)
    assert len(slots) == 28  # 09:00–13:00 and 14:00–17:00 in 15-minute steps
    assert slots[0].start == dt.datetime(2026, 3, 2, 3, 30, tzinfo=UTC)  # 09:00 IST
    assert slots[0].end - slots[0].start == dt.timedelta(minutes=15)
    assert slots[-1].start == at(MON, 16, 45)
    assert all(s.timezone == "Asia/Kolkata" and s.start.tzinfo == UTC for s in slots)
    assert at(MON, 13) not in {s.start for s in slots}  # the lunch gap is never offered


async def test_appointment_type_sets_length_and_pages(service, clinic, at):
    slots = await service.free_slots(clinic.org_id, doctor_id=clinic.doctor_id,
                                      appointment_type_id=clinic.type30_id, day=MON, limit=100)
    assert len(slots) == 26 and all(s.end - s.start == dt.timedelta(minutes=30) for s in slots)
    assert at(MON, 12, 45) not in {s.start for s in slots}  # would run into lunch
    page1 = await service.free_slots(clinic.org_id, doctor_id=clinic.doctor_id, day=MON, limit=5)
    page2 = await service.free_slots(clinic.org_id, doctor_id=clinic.doctor_id, day=MON, limit=5, offset=5)
    assert [s.start for s in page1 + page2] == [at(MON, 9) + dt.timedelta(minutes=15 * i) for i in range(10)]


async def test_part_of_day_and_specialty(service, clinic, at):
    evening = await service.free_slots(clinic.org_id, specialty="dermatology", day=MON,
                                       part_of_day=PartOfDay.AFTERNOON, limit=100)
    assert evening and all(s.doctor_id == clinic.doctor2_id for s in evening)
    assert evening[0].start == at(MON, 12) and evening[-1].start == at(MON, 16, 45)
    assert await service.free_slots(clinic.org_id, specialty="cardiology", day=MON) == []


async def test_past_slots_and_lead_time_never_offered(service, clinic, clock, at):
    clock.now = at(MON, 10, 5)
    slots = await service.free_slots(clinic.org_id, doctor_id=clinic.doctor_id, day=MON, limit=100)
    assert slots[0].start == at(MON, 10, 45)  # 10:05 + 30 min lead time → first step at 10:45
    assert await service.free_slots(clinic.org_id, doctor_id=clinic.doctor_id, day=MON - dt.timedelta(days=1)) == []


async def test_next_slots_without_a_day_walk_forward_and_skip_sunday(service, clinic, clock, at):
    clock.now = at(MON + dt.timedelta(days=5), 16, 20)  # Saturday 16:20: nothing left today
    slots = await service.free_slots(clinic.org_id, doctor_id=clinic.doctor_id, limit=3)
    assert [s.start for s in slots] == [at(MON + dt.timedelta(days=7), 9, mi) for mi in (0, 15, 30)]


async def test_horizon_is_respected(service, clinic):
    far = MON + dt.timedelta(days=70)
    assert await service.free_slots(clinic.org_id, doctor_id=clinic.doctor_id, day=far) == []


async def test_holiday_and_leave_never_offered(service, db, clinic, at):
    tue, wed = MON + dt.timedelta(days=1), MON + dt.timedelta(days=2)
    async with db() as s, s.begin():
        s.add(m.Holiday(org_id=clinic.org_id, branch_id=None, day=tue, name="Holi"))
    assert await service.free_slots(clinic.org_id, doctor_id=clinic.doctor_id, day=tue) == []
    await service.add_leave(clinic.doctor_id, at(wed, 9), at(wed, 13), "conference")
    left = await service.free_slots(clinic.org_id, doctor_id=clinic.doctor_id, day=wed, limit=100)
    assert left and left[0].start == at(wed, 14) and len(left) == 12
    other = await service.free_slots(clinic.org_id, doctor_id=clinic.doctor2_id, day=wed, limit=100)
    assert len(other) == 28  # leave is per doctor


async def test_booked_time_disappears_and_expired_hold_reappears(service, clinic, clock, at):
    held = await service.hold(clinic.org_id, patient_id=clinic.patient_id, doctor_id=clinic.doctor_id,
                              branch_id=clinic.branch_id, appointment_type_id=clinic.type30_id, start=at(MON, 9))
    starts = {s.start for s in await service.free_slots(clinic.org_id, doctor_id=clinic.doctor_id, day=MON,
                                                          limit=100)}
    assert at(MON, 9) not in starts and at(MON, 9, 15) not in starts and at(MON, 9, 30) in starts
    clock.advance(minutes=11)
    assert held.status == AppointmentStatus.HELD
    starts = {s.start for s in await service.free_slots(clinic.org_id, doctor_id=clinic.doctor_id, day=MON,
                                                          limit=100)}
    assert at(MON, 9) in starts  # a lapsed hold frees its slot even before the sweep runs


async def test_sydney_dst_start(service, make_clinic, clock, at):
    syd = await make_clinic(tz="Australia/Sydney", weekdays=(0, 1, 2, 3, 4, 5, 6))
    clock.now = dt.datetime(2026, 9, 30, 0, 0, tzinfo=UTC)
    sat, mon = dt.date(2026, 10, 3), dt.date(2026, 10, 5)   # DST starts Sunday 4 Oct 02:00 → 03:00
    before = await service.free_slots(syd.org_id, doctor_id=syd.doctor_id, day=sat, limit=1)
    after = await service.free_slots(syd.org_id, doctor_id=syd.doctor_id, day=mon, limit=1)
    assert before[0].start == dt.datetime(2026, 10, 2, 23, 0, tzinfo=UTC)   # 09:00 AEST (+10)
    assert after[0].start == dt.datetime(2026, 10, 4, 22, 0, tzinfo=UTC)    # 09:00 AEDT (+11)
    # A range across the missing hour: 02:00 and 02:30 local do not exist and are not offered.
    sun = dt.date(2026, 10, 4)
    await service.import_availability_snapshot(syd.doctor_id, syd.branch_id, sun, [("01:00", "04:00")], 30)
    slots = await service.free_slots(syd.org_id, doctor_id=syd.doctor_id, day=sun, limit=100)
    assert [s.start for s in slots] == [dt.datetime(2026, 10, 3, 15, 0, tzinfo=UTC) + dt.timedelta(minutes=30 * i)
                                        for i in range(4)]


async def test_sydney_dst_end_hold_roundtrip(service, make_clinic, clock):
    syd = await make_clinic(tz="Australia/Sydney", weekdays=(0, 1, 2, 3, 4, 5, 6))
    clock.now = dt.datetime(2026, 4, 1, 0, 0, tzinfo=UTC)
    sun, mon = dt.date(2026, 4, 5), dt.date(2026, 4, 6)    # DST ends Sunday 5 Apr 03:00 → 02:00
    p = await service.find_or_create_patient(syd.org_id, phone="+61 412 345 678")
    first_mon = (await service.free_slots(syd.org_id, doctor_id=syd.doctor_id, day=mon, limit=1))[0]
    first_sat = (await service.free_slots(syd.org_id, doctor_id=syd.doctor_id, day=sun - dt.timedelta(days=1),
                                          limit=1))[0]
    assert first_sat.start.hour == 22 and first_mon.start.hour == 23   # +11 before, +10 after
    appt = await service.hold(syd.org_id, patient_id=p.id, doctor_id=syd.doctor_id, branch_id=syd.branch_id,
                              appointment_type_id=syd.type15_id, start=first_mon.start)
    assert (await service.get_appointment(appt.id)).start == first_mon.start


async def test_snapshot_replaces_weekly_schedule_and_can_close_a_day(service, clinic, at):
    thu = MON + dt.timedelta(days=3)
    await service.import_availability_snapshot(clinic.doctor_id, clinic.branch_id, thu,
                                               [(dt.time(18), dt.time(19))], 20)
    slots = await service.free_slots(clinic.org_id, doctor_id=clinic.doctor_id, day=thu, limit=100)
    assert [s.start for s in slots] == [at(thu, 18), at(thu, 18, 20), at(thu, 18, 40)]
    await service.import_availability_snapshot(clinic.doctor_id, clinic.branch_id, thu, [], 20)
    assert await service.free_slots(clinic.org_id, doctor_id=clinic.doctor_id, day=thu) == []


async def test_recurring_break_is_never_offered(service, db, clinic, at):
    async with db() as s, s.begin():
        s.add(m.ScheduleBreak(doctor_id=clinic.doctor_id, branch_id=clinic.branch_id, weekday=MON.weekday(),
                              start_time=dt.time(11), end_time=dt.time(11, 30)))
    short = {s.start for s in await service.free_slots(clinic.org_id, doctor_id=clinic.doctor_id, day=MON,
                                                         limit=100)}
    assert at(MON, 10, 45) in short and at(MON, 11) not in short and at(MON, 11, 15) not in short
    assert at(MON, 11, 30) in short
    long = {s.start for s in await service.free_slots(clinic.org_id, doctor_id=clinic.doctor_id, day=MON,
                                                        appointment_type_id=clinic.type30_id, limit=100)}
    assert at(MON, 10, 30) in long and at(MON, 10, 45) not in long   # would run into the break
