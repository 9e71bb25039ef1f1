"""Booking-core fixtures: a settable clock and a small clinic built row by row."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.booking import models as m
from bot.booking.service import BookingService

UTC = dt.timezone.utc
# Monday 2 March 2026, 08:00 in Kolkata (02:30 UTC): tests run against this instant.
START = dt.datetime(2026, 3, 2, 2, 30, tzinfo=UTC)


@dataclass
class Clock:
    """A clock the test moves by hand."""

    now: dt.datetime = START

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += dt.timedelta(**delta)


@dataclass
class Clinic:
    org_id: int
    branch_id: int
    doctor_id: int           # general medicine, 09:00–13:00 + 14:00–17:00 Mon–Sat, 15-min slots
    doctor2_id: int          # dermatology, tele, same hours
    type30_id: int           # 30-min in-person, free
    type15_id: int           # 15-min in-person, free
    prepaid_id: int          # 15-min tele, prepaid 50000 paise
    patient_id: int = 0
    extra: dict[str, int] = field(default_factory=dict)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def service(db: async_sessionmaker[AsyncSession], clock: Clock) -> BookingService:
    return BookingService(db, clock=clock, hold_minutes=10, max_live_holds=3)


async def build_clinic(db: async_sessionmaker[AsyncSession], *, tz: str = "Asia/Kolkata",
                       weekdays: tuple[int, ...] = (0, 1, 2, 3, 4, 5), lead_time_min: int = 30,
                       cancel_window_min: int = 120) -> Clinic:
    """One organization, one branch in `tz`, two doctors, three appointment types."""
    async with db() as s, s.begin():
        org = m.Organization(name="Test Clinics", slug=f"test-{tz.replace('/', '-').lower()}")
        s.add(org)
        await s.flush()
        branch = m.Branch(org_id=org.id, name="Main", city="Bengaluru", address="1 MG Road", latitude=12.97,
                          longitude=77.59, timezone=tz, language="en", country="IN", currency="INR",
                          lead_time_min=lead_time_min, horizon_days=60, cancel_window_min=cancel_window_min,
                          refund_policy="", opening_hours={})
        d1 = m.Doctor(org_id=org.id, title="Dr.", first_name="Asha", last_name="Mehta", languages=["en", "hi"],
                      fee_minor=50000, currency="INR", tele_enabled=False)
        d2 = m.Doctor(org_id=org.id, title="Dr.", first_name="Karthik", last_name="Raman",
                      languages=["en", "ta"], fee_minor=70000, currency="INR", tele_enabled=True)
        s.add_all([branch, d1, d2])
        await s.flush()
        s.add_all([m.DoctorSpecialty(doctor_id=d1.id, specialty="general_medicine"),
                   m.DoctorSpecialty(doctor_id=d2.id, specialty="dermatology"),
                   m.DoctorBranch(doctor_id=d1.id, branch_id=branch.id),
                   m.DoctorBranch(doctor_id=d2.id, branch_id=branch.id)])
        for doc in (d1, d2):
            for wd in weekdays:
                s.add(m.Schedule(doctor_id=doc.id, branch_id=branch.id, weekday=wd, start_time=dt.time(9),
                                 end_time=dt.time(13), slot_minutes=15))
                s.add(m.Schedule(doctor_id=doc.id, branch_id=branch.id, weekday=wd, start_time=dt.time(14),
                                 end_time=dt.time(17), slot_minutes=15))
        t30 = m.AppointmentType(org_id=org.id, name="Consultation", duration_min=30, mode="in_person",
                                prepay_minor=0, currency="INR")
        t15 = m.AppointmentType(org_id=org.id, name="Follow-up", duration_min=15, mode="in_person",
                                prepay_minor=0, currency="INR")
        tp = m.AppointmentType(org_id=org.id, name="Video consult", duration_min=15, mode="tele",
                               prepay_minor=50000, currency="INR")
        s.add_all([t30, t15, tp])
        await s.flush()
        return Clinic(org_id=org.id, branch_id=branch.id, doctor_id=d1.id, doctor2_id=d2.id, type30_id=t30.id,
                      type15_id=t15.id, prepaid_id=tp.id)


@pytest.fixture
async def clinic(db: async_sessionmaker[AsyncSession], service: BookingService) -> Clinic:
    c = await build_clinic(db)
    patient = await service.find_or_create_patient(c.org_id, phone="98450 12345", name="Priya Sharma")
    c.patient_id = patient.id
    return c


def local(day: dt.date, hour: int, minute: int = 0, tz: str = "Asia/Kolkata") -> dt.datetime:
    """An aware UTC instant for a local wall-clock time."""
    from zoneinfo import ZoneInfo

    return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=ZoneInfo(tz)).astimezone(UTC)


@pytest.fixture
def make_clinic(db: async_sessionmaker[AsyncSession]):  # type: ignore[no-untyped-def]
    """`await make_clinic(tz=…, weekdays=…, …)` builds another clinic."""

    async def _make(**kwargs: object) -> Clinic:
        return await build_clinic(db, **kwargs)  # type: ignore[arg-type]

    return _make


@pytest.fixture
def at():  # type: ignore[no-untyped-def]
    """`at(day, hour, minute=0, tz="Asia/Kolkata")`: a local wall-clock time as aware UTC."""
    return local
