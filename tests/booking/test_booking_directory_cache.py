"""The search's directory cache: reused for its ttl, dropped on invalidation, never trusted by booking."""

from __future__ import annotations

import datetime as dt

import pytest

from bot.booking import models as m
from bot.booking.directory import DirectoryCache
from bot.booking.errors import SlotUnavailable
from bot.booking.service import BookingService

TUE = dt.date(2026, 3, 3)


async def _close_tuesday_morning(db, clinic) -> None:
    """A recurring break over the whole Tuesday morning, written behind the service's back."""
    async with db() as s, s.begin():
        s.add(m.ScheduleBreak(doctor_id=clinic.doctor_id, branch_id=clinic.branch_id, weekday=TUE.weekday(),
                              start_time=dt.time(9), end_time=dt.time(13)))


async def _starts(service: BookingService, clinic) -> set[dt.datetime]:
    return {s.start for s in await service.free_slots(clinic.org_id, doctor_id=clinic.doctor_id, day=TUE,
                                                      limit=100)}


async def test_search_reuses_the_directory_until_invalidated(service, db, clinic, at):
    assert at(TUE, 9) in await _starts(service, clinic)
    await _close_tuesday_morning(db, clinic)
    # Within the ttl the weekly schedule is reused as it was read ...
    assert at(TUE, 9) in await _starts(service, clinic)
    service.invalidate_directory(clinic.org_id)
    # ... and after an invalidation it is read again.
    after = await _starts(service, clinic)
    assert at(TUE, 9) not in after and at(TUE, 14) in after and len(after) == 12


async def test_zero_ttl_reads_the_directory_every_time(db, clinic, clock, at):
    service = BookingService(db, clock=clock, directory_ttl=0)
    assert at(TUE, 9) in await _starts(service, clinic)
    await _close_tuesday_morning(db, clinic)
    assert at(TUE, 9) not in await _starts(service, clinic)


async def test_hold_checks_fresh_schedule_rows_not_the_cache(service, db, clinic, at):
    assert at(TUE, 9) in await _starts(service, clinic)   # the cache now says 09:00 is offered
    await _close_tuesday_morning(db, clinic)
    with pytest.raises(SlotUnavailable):
        await service.hold(clinic.org_id, patient_id=clinic.patient_id, doctor_id=clinic.doctor_id,
                           branch_id=clinic.branch_id, appointment_type_id=clinic.type15_id, start=at(TUE, 9))
    held = await service.hold(clinic.org_id, patient_id=clinic.patient_id, doctor_id=clinic.doctor_id,
                              branch_id=clinic.branch_id, appointment_type_id=clinic.type15_id, start=at(TUE, 14))
    assert held.start == at(TUE, 14) and held.doctor_name and held.branch_name


async def test_cache_expires_after_its_ttl(db, clinic):
    ticks = [100.0]
    cache = DirectoryCache(5.0, monotonic=lambda: ticks[0])
    async with db() as s, s.begin():
        first = await cache.get(s, clinic.org_id)
    assert first.pairs(doctor_id=None, branch_id=None, specialty=None, tele_only=False)
    async with db() as s, s.begin():
        await s.execute(m.Doctor.__table__.update().where(m.Doctor.id == clinic.doctor_id).values(active=False))
    ticks[0] += 4.9
    async with db() as s, s.begin():
        assert await cache.get(s, clinic.org_id) is first
    ticks[0] += 0.2
    async with db() as s, s.begin():
        fresh = await cache.get(s, clinic.org_id)
    assert fresh is not first
    pairs = fresh.pairs(doctor_id=None, branch_id=None, specialty=None, tele_only=False)
    assert pairs == [(clinic.doctor2_id, clinic.branch_id)]   # the deactivated doctor is gone
    assert fresh.pairs(doctor_id=None, branch_id=None, specialty=None, tele_only=True) == pairs
    assert fresh.pairs(doctor_id=None, branch_id=None, specialty="general_medicine", tele_only=False) == []
