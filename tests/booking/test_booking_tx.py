"""Reads never wait for an open write transaction (SQLite: deferred BEGIN under WAL)."""

from __future__ import annotations

from sqlalchemy import update

from bot.booking import models as m


async def test_reads_inside_another_open_write_transaction(service, db, clinic):
    async with db() as s, s.begin():
        await s.execute(update(m.Patient).where(m.Patient.id == clinic.patient_id).values(language="hi"))
        # A caller that holds a write transaction and asks the booking core something:
        # the read sees the committed state and does not queue behind the writer.
        assert (await service.get_patient(clinic.patient_id)).language is None
        assert await service.has_consent(clinic.patient_id, channel="sms", purpose="service") is None
        assert await service.free_slots(clinic.org_id, doctor_id=clinic.doctor_id, limit=1)
    assert (await service.get_patient(clinic.patient_id)).language == "hi"
