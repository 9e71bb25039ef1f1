"""Bad input gets a typed error with a stable code, and nothing is written."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select

from bot.booking.errors import BookingError, InvalidInput, NotFound, OutsidePolicy, SlotUnavailable
from bot.db import Base

MON = dt.date(2026, 3, 2)


async def snapshot(db) -> dict[str, int]:
    out = {}
    async with db() as s:
        for table in Base.metadata.sorted_tables:
            out[table.name] = int(await s.scalar(select(func.count()).select_from(table)) or 0)
    return out


@pytest.mark.parametrize("phone", ["12", "not a phone", "+91 12345", "0000000000"])
async def test_malformed_phone(service, db, clinic, phone):
    before = await snapshot(db)
    with pytest.raises(InvalidInput) as err:
        await service.find_or_create_patient(clinic.org_id, phone=phone)
    assert err.value.to_dict()["error"]["code"] == "INVALID_INPUT"
    assert await snapshot(db) == before


async def test_phone_normalised_to_e164_with_india_default(service, clinic):
    a = await service.find_or_create_patient(clinic.org_id, phone="098450 12345")
    b = await service.find_or_create_patient(clinic.org_id, phone="+91-98450-12345", whatsapp_id="bsuid-1")
    assert a.id == b.id == clinic.patient_id and a.phone == "+919845012345"
    assert (await service.find_patient(clinic.org_id, whatsapp_id="bsuid-1")).id == a.id
    assert await service.find_patient(clinic.org_id, phone="+919845099999") is None


def hold_kwargs(clinic, at, **over):
    kw = dict(patient_id=clinic.patient_id, doctor_id=clinic.doctor_id, branch_id=clinic.branch_id,
              appointment_type_id=clinic.type15_id, start=at(MON, 11))
    kw.update(over)
    return kw


@pytest.mark.parametrize(("over", "error"), [
    ({"patient_id": 9999}, NotFound),
    ({"doctor_id": 9999}, NotFound),
    ({"branch_id": 9999}, NotFound),
    ({"appointment_type_id": 9999}, NotFound),
    ({"start": "past"}, InvalidInput),
    ({"start": "lead"}, OutsidePolicy),
    ({"start": "horizon"}, OutsidePolicy),
    ({"start": "odd"}, SlotUnavailable),
    ({"start": "lunch"}, SlotUnavailable),
    ({"start": "naive"}, InvalidInput),
    ({"appointment_type_id": "tele"}, InvalidInput),
])
async def test_bad_hold_input_writes_nothing(service, db, clinic, clock, at, over, error):
    special = {
        "past": at(MON, 7), "lead": at(MON, 8, 15), "horizon": at(MON + dt.timedelta(days=61), 10),
        "odd": at(MON, 11, 7), "lunch": at(MON, 13, 15), "naive": dt.datetime(2026, 3, 2, 11, 0),
    }
    if over.get("start") in special:
        over = {"start": special[over["start"]]}
    if over.get("appointment_type_id") == "tele":
        over = {"appointment_type_id": clinic.prepaid_id}   # tele type, doctor 1 is not a tele doctor
    clock.now = at(MON, 8)
    before = await snapshot(db)
    with pytest.raises(error) as err:
        await service.hold(clinic.org_id, **hold_kwargs(clinic, at, **over))
    assert isinstance(err.value, BookingError) and err.value.code == error.code
    assert await snapshot(db) == before


async def test_unknown_ids_elsewhere(service, db, clinic):
    before = await snapshot(db)
    for call in (service.confirm(9999), service.cancel(9999, reason="x"), service.get_doctor(9999),
                 service.get_branch(9999), service.leave_waitlist(9999), service.get_patient(9999),
                 service.find_appointment_by_code(clinic.org_id, "MM-ZZZZZ"),
                 service.list_branches(9999)):
        with pytest.raises(NotFound):
            await call
    with pytest.raises(InvalidInput):
        await service.add_dependent(clinic.patient_id, name="  ", relation="child")
    with pytest.raises(InvalidInput):
        await service.add_dependent(clinic.patient_id, name="X", relation="cousin")
    with pytest.raises(InvalidInput):
        await service.record_consent(clinic.patient_id, channel="sms", purpose="spam", given=True, source="x")
    assert await snapshot(db) == before


async def test_other_organizations_ids_are_not_found(service, db, clinic, make_clinic, at):
    other = await make_clinic(tz="Asia/Kolkata".replace("Kolkata", "Calcutta"))
    before = await snapshot(db)
    with pytest.raises(NotFound):
        await service.hold(other.org_id, **hold_kwargs(clinic, at, patient_id=clinic.patient_id))
    assert await snapshot(db) == before
