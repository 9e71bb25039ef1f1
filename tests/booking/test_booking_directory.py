"""The demo seed and the directory: branches, specialties, fuzzy doctor search, tenancy."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select

from bot.booking import models as m
from bot.booking.seed import seed_demo
from bot.booking.service import BookingService
from bot.db import Base


async def counts(db) -> dict[str, int]:
    async with db() as s:
        return {t.name: int(await s.scalar(select(func.count()).select_from(t)) or 0)
                for t in Base.metadata.sorted_tables}


async def test_seed_demo_is_believable_and_idempotent(db, settings):
    await seed_demo(db, settings)
    first = await counts(db)
    await seed_demo(db, settings)
    assert await counts(db) == first
    service = BookingService(db)
    org = await service.org_for_channel_account("whatsapp", settings.whatsapp_phone_id)
    assert org is not None and org.name == "MyMedic Demo Clinics"
    assert (await service.org_for_channel_account("sms", settings.twilio_from)) == org
    assert await service.org_for_channel_account("sms", "+10000000000") is None
    branches = await service.list_branches(org.id)
    assert len({b.city for b in branches}) == 2
    doctors = await service.search_doctors(org.id, limit=100)
    assert len(doctors) >= 8
    assert len(await service.list_specialties(org.id)) >= 6
    assert {"en", "hi", "ta"} <= {lang for d in doctors for lang in d.languages}
    assert any(d.tele_enabled for d in doctors)
    types = [t for d in doctors for t in await service.appointment_types(org.id, d.id)]
    assert any(t.prepay_minor == 0 for t in types) and any(t.prepay_minor > 0 for t in types)
    async with db() as s:
        assert await s.scalar(select(func.count()).select_from(m.Holiday)) >= 1
    slots = await service.free_slots(org.id, specialty="cardiology", limit=5)
    assert len(slots) == 5


async def test_fuzzy_doctor_search(db, settings):
    await seed_demo(db, settings)
    service = BookingService(db)
    org = await service.org_for_channel_account("whatsapp", settings.whatsapp_phone_id)
    assert org is not None
    assert (await service.search_doctors(org.id, query="dr mehta"))[0].last_name == "Mehta"
    assert (await service.search_doctors(org.id, query="Dr. Kavya Redy"))[0].last_name == "Reddy"
    skin = await service.search_doctors(org.id, query="skin doc")
    assert skin and skin[0].specialties == ("dermatology",)
    assert (await service.search_doctors(org.id, query="heart"))[0].specialties == ("cardiology",)
    tamil_tele = await service.search_doctors(org.id, language="ta", tele=True)
    assert tamil_tele and all("ta" in d.languages and d.tele_enabled for d in tamil_tele)
    assert await service.search_doctors(org.id, query="zzqxv") == []


async def test_nearest_branches(db, settings):
    await seed_demo(db, settings)
    service = BookingService(db)
    org = await service.org_for_channel_account("whatsapp", settings.whatsapp_phone_id)
    assert org is not None
    near_chennai = await service.nearest_branches(org.id, latitude=13.08, longitude=80.27, limit=1)
    assert near_chennai[0].city == "Chennai"
    assert (await service.nearest_branches(org.id, place="bangalore indiranagar"))[0].city == "Bengaluru"
    assert (await service.nearest_branches(org.id, place="chenai"))[0].city == "Chennai"


async def test_seeded_holiday_never_offered(db, settings):
    """Seeded holidays are never offered."""
    await seed_demo(db, settings)
    fixed = dt.datetime(2026, 12, 20, 0, 0, tzinfo=dt.timezone.utc)
    service = BookingService(db, clock=lambda: fixed)
    org = await service.org_for_channel_account("whatsapp", settings.whatsapp_phone_id)
    assert org is not None
    assert await service.free_slots(org.id, day=dt.date(2026, 12, 25)) == []
    assert await service.free_slots(org.id, day=dt.date(2026, 12, 24))
