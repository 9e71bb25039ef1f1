"""Holds and confirmation; no double booking, enforced by the database."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from bot.booking import models as m
from bot.booking.errors import HoldExpired, SlotUnavailable, TooManyHolds
from bot.booking.service import BookingService
from bot.booking.types import AppointmentStatus

MON = dt.date(2026, 3, 2)


async def count(db, model, *where) -> int:
    async with db() as s:
        return int(await s.scalar(select(func.count()).select_from(model).where(*where)) or 0)


async def test_hold_then_confirm_keeps_id_and_writes_audit_and_event(service, db, clinic, at):
    held = await service.hold(clinic.org_id, patient_id=clinic.patient_id, doctor_id=clinic.doctor_id,
                              branch_id=clinic.branch_id, appointment_type_id=clinic.type30_id, start=at(MON, 9),
                              channel="whatsapp")
    assert held.status == AppointmentStatus.HELD and held.hold_expires_at is not None
    assert held.code.startswith("MM-") and len(held.code) == 8
    assert held.end - held.start == dt.timedelta(minutes=30)
    done = await service.confirm(held.id, channel="whatsapp")
    assert done.id == held.id and done.code == held.code and done.status == AppointmentStatus.CONFIRMED
    assert done.version == held.version + 1 and done.hold_expires_at is None
    assert (await service.find_appointment_by_code(clinic.org_id, held.code.lower().replace("-", " "))).id == held.id
    events = [e.type for e in await service.pending_events()]
    assert events == ["hold.created", "appointment.created"]
    assert await count(db, m.AuditLog, m.AuditLog.entity == "appointment", m.AuditLog.entity_id == held.id) == 2
    assert await count(db, m.SlotCell, m.SlotCell.appointment_id == held.id) == 6


async def test_prepaid_type_waits_for_payment_idempotently(service, clinic, at):
    held = await service.hold(clinic.org_id, patient_id=clinic.patient_id, doctor_id=clinic.doctor2_id,
                              branch_id=clinic.branch_id, appointment_type_id=clinic.prepaid_id, start=at(MON, 10))
    pending = await service.confirm(held.id)
    assert pending.status == AppointmentStatus.PENDING_PAYMENT and pending.prepay_minor == 50000
    paid = await service.record_payment(held.id, reference="pay_1", amount_minor=50000)
    again = await service.record_payment(held.id, reference="pay_1", amount_minor=50000)
    assert paid.status == again.status == AppointmentStatus.CONFIRMED and paid.paid
    assert again.version == paid.version


async def test_expired_hold_cannot_confirm_and_frees_slot_for_another(service, db, clinic, clock, at):
    first = await service.hold(clinic.org_id, patient_id=clinic.patient_id, doctor_id=clinic.doctor_id,
                               branch_id=clinic.branch_id, appointment_type_id=clinic.type15_id, start=at(MON, 9))
    clock.advance(minutes=10)
    with pytest.raises(HoldExpired):
        await service.confirm(first.id)
    assert (await service.get_appointment(first.id)).status == AppointmentStatus.HELD  # nothing written
    other = await service.find_or_create_patient(clinic.org_id, phone="+919845000111")
    second = await service.hold(clinic.org_id, patient_id=other.id, doctor_id=clinic.doctor_id,
                                branch_id=clinic.branch_id, appointment_type_id=clinic.type30_id, start=at(MON, 9))
    assert (await service.get_appointment(first.id)).status == AppointmentStatus.EXPIRED
    assert second.status == AppointmentStatus.HELD
    assert "hold.expired" in [e.type for e in await service.pending_events()]
    with pytest.raises(HoldExpired):
        await service.confirm(first.id)


async def test_release_expired_holds_sweeps(service, clinic, clock, at):
    ids = []
    for minute in (0, 15):
        ids.append((await service.hold(clinic.org_id, patient_id=clinic.patient_id, doctor_id=clinic.doctor_id,
                                       branch_id=clinic.branch_id, appointment_type_id=clinic.type15_id,
                                       start=at(MON, 9, minute))).id)
    assert await service.release_expired_holds() == []
    clock.advance(minutes=10, seconds=1)
    assert await service.release_expired_holds() == ids
    assert await service.release_expired_holds() == []
    assert [e.type for e in await service.pending_events()].count("hold.expired") == 2


async def test_at_most_three_live_holds(service, db, clinic, at):
    for minute in (0, 15, 30):
        await service.hold(clinic.org_id, patient_id=clinic.patient_id, doctor_id=clinic.doctor_id,
                           branch_id=clinic.branch_id, appointment_type_id=clinic.type15_id, start=at(MON, 9, minute))
    with pytest.raises(TooManyHolds):
        await service.hold(clinic.org_id, patient_id=clinic.patient_id, doctor_id=clinic.doctor_id,
                           branch_id=clinic.branch_id, appointment_type_id=clinic.type15_id, start=at(MON, 10))
    assert await count(db, m.Appointment) == 3


async def test_concurrent_holds_of_one_patient_stop_at_three(service, db, clinic, at):
    async def one(minute: int):
        try:
            return await service.hold(clinic.org_id, patient_id=clinic.patient_id, doctor_id=clinic.doctor_id,
                                      branch_id=clinic.branch_id, appointment_type_id=clinic.type15_id,
                                      start=at(MON, 9) + dt.timedelta(minutes=minute))
        except TooManyHolds as exc:
            return exc

    results = await asyncio.gather(*(one(15 * i) for i in range(10)))
    assert sum(not isinstance(r, TooManyHolds) for r in results) == 3
    assert await count(db, m.Appointment, m.Appointment.patient_id == clinic.patient_id) == 3


async def test_30_and_15_minute_bookings_never_overlap(service, clinic, at):
    other = await service.find_or_create_patient(clinic.org_id, phone="+919845000222")
    await service.hold(clinic.org_id, patient_id=clinic.patient_id, doctor_id=clinic.doctor_id,
                       branch_id=clinic.branch_id, appointment_type_id=clinic.type30_id, start=at(MON, 9))
    with pytest.raises(SlotUnavailable):
        await service.hold(clinic.org_id, patient_id=other.id, doctor_id=clinic.doctor_id,
                           branch_id=clinic.branch_id, appointment_type_id=clinic.type15_id, start=at(MON, 9, 15))
    ok = await service.hold(clinic.org_id, patient_id=other.id, doctor_id=clinic.doctor_id,
                            branch_id=clinic.branch_id, appointment_type_id=clinic.type15_id, start=at(MON, 9, 30))
    assert ok.start == at(MON, 9, 30)
    # The other doctor is independent.
    await service.hold(clinic.org_id, patient_id=other.id, doctor_id=clinic.doctor2_id,
                       branch_id=clinic.branch_id, appointment_type_id=clinic.type15_id, start=at(MON, 9, 15))


async def test_database_itself_rejects_an_overlapping_cell(db, clinic, service, at):
    held = await service.hold(clinic.org_id, patient_id=clinic.patient_id, doctor_id=clinic.doctor_id,
                              branch_id=clinic.branch_id, appointment_type_id=clinic.type30_id, start=at(MON, 9))
    with pytest.raises(IntegrityError):
        async with db() as s, s.begin():
            s.add(m.SlotCell(doctor_id=clinic.doctor_id, cell_start=at(MON, 9, 20), appointment_id=held.id))


async def _race(service: BookingService, clinic, patients: list[int], attempts) -> tuple[list, list]:
    async def one(patient_id: int, type_id: int, start: dt.datetime):
        try:
            return await service.hold(clinic.org_id, patient_id=patient_id, doctor_id=clinic.doctor_id,
                                      branch_id=clinic.branch_id, appointment_type_id=type_id, start=start)
        except SlotUnavailable as exc:
            return exc

    results = await asyncio.gather(*(one(p, t, st) for p, (t, st) in zip(patients, attempts, strict=True)))
    return ([r for r in results if not isinstance(r, Exception)], [r for r in results if isinstance(r, Exception)])


async def _patients(db, clinic, n: int) -> list[int]:
    async with db() as s, s.begin():
        rows = [m.Patient(org_id=clinic.org_id, whatsapp_id=f"wa-{i}", relation="self") for i in range(n)]
        s.add_all(rows)
        await s.flush()
        return [r.id for r in rows]


async def test_200_concurrent_holds_of_one_slot_exactly_one_wins(service, db, clinic, at):
    patients = await _patients(db, clinic, 200)
    wins, losses = await _race(service, clinic, patients, [(clinic.type30_id, at(MON, 11))] * 200)
    assert len(wins) == 1 and len(losses) == 199
    assert all(isinstance(e, SlotUnavailable) and e.code == "SLOT_UNAVAILABLE" for e in losses)
    assert await count(db, m.Appointment) == 1
    assert await count(db, m.SlotCell) == 6


async def test_concurrent_mixed_lengths_never_overlap(service, db, clinic, at):
    patients = await _patients(db, clinic, 60)
    attempts = []
    for i in range(60):
        type_id = clinic.type30_id if i % 2 else clinic.type15_id
        attempts.append((type_id, at(MON, 9) + dt.timedelta(minutes=15 * (i % 8))))
    wins, _losses = await _race(service, clinic, patients, attempts)
    spans = sorted((w.start, w.end) for w in wins)
    assert all(a_end <= b_start for (_a, a_end), (b_start, _b) in zip(spans, spans[1:]))
    assert spans[0][0] >= at(MON, 9) and spans[-1][1] <= at(MON, 11, 15)  # all inside 09:00–11:15
    assert await count(db, m.Appointment) == len(wins)


async def test_a_hold_can_take_over_another_hold_in_one_transaction(service, db, clinic, at):
    system = await service.find_or_create_patient(clinic.org_id, whatsapp_id="asap-system")
    kept = await service.hold(clinic.org_id, patient_id=system.id, doctor_id=clinic.doctor_id,
                              branch_id=clinic.branch_id, appointment_type_id=clinic.type30_id, start=at(MON, 9))
    with pytest.raises(SlotUnavailable):   # without the hand-over the slot is taken
        await service.hold(clinic.org_id, patient_id=clinic.patient_id, doctor_id=clinic.doctor_id,
                           branch_id=clinic.branch_id, appointment_type_id=clinic.type30_id, start=at(MON, 9))
    with pytest.raises(TooManyHolds):       # a failed booking leaves the replaced hold in place
        await BookingService(db, clock=service._clock, max_live_holds=0).hold(
            clinic.org_id, patient_id=clinic.patient_id, doctor_id=clinic.doctor_id, branch_id=clinic.branch_id,
            appointment_type_id=clinic.type30_id, start=at(MON, 9), replacing_hold=kept.id)
    assert (await service.get_appointment(kept.id)).status == AppointmentStatus.HELD

    taken = await service.hold(clinic.org_id, patient_id=clinic.patient_id, doctor_id=clinic.doctor_id,
                               branch_id=clinic.branch_id, appointment_type_id=clinic.type30_id, start=at(MON, 9),
                               replacing_hold=kept.id)
    assert (await service.get_appointment(kept.id)).status == AppointmentStatus.CANCELLED
    assert await count(db, m.SlotCell, m.SlotCell.appointment_id == taken.id) == 6
    assert await count(db, m.SlotCell, m.SlotCell.appointment_id == kept.id) == 0


async def test_a_move_can_take_over_a_hold_on_the_new_slot(service, db, clinic, at):
    system = await service.find_or_create_patient(clinic.org_id, whatsapp_id="asap-system")
    mine = await service.confirm((await service.hold(
        clinic.org_id, patient_id=clinic.patient_id, doctor_id=clinic.doctor_id, branch_id=clinic.branch_id,
        appointment_type_id=clinic.type30_id, start=at(MON, 11))).id)
    kept = await service.hold(clinic.org_id, patient_id=system.id, doctor_id=clinic.doctor_id,
                              branch_id=clinic.branch_id, appointment_type_id=clinic.type30_id, start=at(MON, 9))
    moved = await service.reschedule(mine.id, start=at(MON, 9), replacing_hold=kept.id)
    assert moved.id == mine.id and moved.start == at(MON, 9)
    assert (await service.get_appointment(kept.id)).status == AppointmentStatus.CANCELLED
