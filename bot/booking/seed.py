"""The demo clinic chain (`python -m bot seed-demo`): believable, small, idempotent.

Two branches in different cities, ten doctors over eight specialties speaking English,
Hindi, Tamil and Kannada, tele doctors, free and prepaid visit types, weekly schedules
with lunch breaks, a public holiday, and the channel accounts that route the configured
WhatsApp number and SMS sender to this organization.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.booking import models as m
from bot.config import Settings

log = logging.getLogger(__name__)

DEMO_SLUG = "mymedic-demo"
DEMO_NAME = "MyMedic Demo Clinics"


@dataclass(frozen=True)
class _DemoDoctor:
    first: str
    last: str
    specialties: tuple[str, ...]
    languages: tuple[str, ...]
    fee_minor: int
    tele: bool
    branches: tuple[str, ...]   # branch keys
    days: tuple[int, ...]       # weekdays worked (0 = Monday)
    slot: int = 15


_BRANCHES = {
    "blr": dict(name="MyMedic Indiranagar", city="Bengaluru", address="100 Feet Road, Indiranagar, Bengaluru 560038",
                latitude=12.9719, longitude=77.6412, timezone="Asia/Kolkata", language="en", country="IN",
                currency="INR", phone="+918041234567", map_url="https://maps.google.com/?q=12.9719,77.6412",
                cancel_window_min=120,
                refund_policy="Prepayments are refunded in full when you cancel at least 2 hours before.",
                opening_hours={d: [["09:00", "13:00"], ["14:00", "19:00"]]
                               for d in ("mon", "tue", "wed", "thu", "fri", "sat")}),
    "maa": dict(name="MyMedic T. Nagar", city="Chennai", address="12 Usman Road, T. Nagar, Chennai 600017",
                latitude=13.0418, longitude=80.2341, timezone="Asia/Kolkata", language="ta", country="IN",
                currency="INR", phone="+914442345678", map_url="https://maps.google.com/?q=13.0418,80.2341",
                cancel_window_min=240,
                refund_policy="Prepayments are refunded when you cancel at least 4 hours before.",
                opening_hours={d: [["08:30", "13:00"], ["16:00", "20:00"]]
                               for d in ("mon", "tue", "wed", "thu", "fri", "sat")}),
}

_DOCTORS = (
    _DemoDoctor("Asha", "Mehta", ("general_medicine",), ("en", "hi"), 50000, True, ("blr",), (0, 1, 2, 3, 4, 5)),
    _DemoDoctor("Rohan", "Iyer", ("cardiology",), ("en", "hi", "ta"), 120000, True, ("blr", "maa"), (0, 2, 4), 20),
    _DemoDoctor("Kavya", "Reddy", ("dermatology",), ("en", "kn", "hi"), 80000, True, ("blr",), (1, 3, 5)),
    _DemoDoctor("Sanjay", "Gupta", ("pediatrics",), ("en", "hi"), 60000, False, ("blr",), (0, 1, 2, 3, 4)),
    _DemoDoctor("Meenakshi", "Sundaram", ("gynecology",), ("en", "ta"), 90000, True, ("maa",), (0, 1, 3, 4, 5)),
    _DemoDoctor("Arjun", "Krishnan", ("orthopedics",), ("en", "ta"), 100000, False, ("maa",), (0, 2, 4, 5)),
    _DemoDoctor("Lakshmi", "Narayanan", ("ent",), ("ta", "en"), 70000, False, ("maa",), (1, 2, 3, 5)),
    _DemoDoctor("Farhan", "Qureshi", ("dentistry",), ("en", "hi"), 50000, False, ("blr",), (0, 1, 2, 3, 4, 5), 30),
    _DemoDoctor("Priya", "Venkatesan", ("general_medicine", "pediatrics"), ("ta", "en", "hi"), 40000, True,
                ("maa",), (0, 1, 2, 3, 4, 5)),
    _DemoDoctor("Neha", "Kapoor", ("psychiatry",), ("en", "hi"), 150000, True, ("blr",), (1, 3), 30),
)

_HOURS = {"blr": ((dt.time(9), dt.time(13)), (dt.time(14), dt.time(18))),
          "maa": ((dt.time(8, 30), dt.time(13)), (dt.time(16), dt.time(20)))}


async def seed_demo(sessionmaker: async_sessionmaker[AsyncSession], settings: Settings) -> None:
    """Create the demo chain once; later runs only add channel accounts that are missing."""
    async with sessionmaker() as s, s.begin():
        org = await s.scalar(select(m.Organization).where(m.Organization.slug == DEMO_SLUG))
        if org is None:
            org = m.Organization(name=DEMO_NAME, slug=DEMO_SLUG)
            s.add(org)
            await s.flush()
            await _fill(s, org.id)
            log.info("demo organization %s created", org.id)
        for channel, address in (("whatsapp", settings.whatsapp_phone_id), ("sms", settings.twilio_from)):
            if not address:
                continue
            exists = await s.scalar(select(m.ChannelAccount).where(
                m.ChannelAccount.channel == channel, m.ChannelAccount.address == address))
            if exists is None:
                s.add(m.ChannelAccount(org_id=org.id, channel=channel, address=address))


async def _fill(s: AsyncSession, org_id: int) -> None:
    branches: dict[str, m.Branch] = {}
    for key, fields in _BRANCHES.items():
        branches[key] = m.Branch(org_id=org_id, lead_time_min=30, horizon_days=60, **fields)  # type: ignore[arg-type]
        s.add(branches[key])
    await s.flush()

    s.add_all([
        m.AppointmentType(org_id=org_id, name="Consultation", duration_min=15, mode="in_person", prepay_minor=0),
        m.AppointmentType(org_id=org_id, name="New patient consultation", duration_min=30, mode="in_person",
                          prepay_minor=20000),
        m.AppointmentType(org_id=org_id, name="Video consultation", duration_min=15, mode="tele",
                          prepay_minor=30000),
    ])
    for index, doc in enumerate(_DOCTORS):
        council = "KMC" if doc.branches[0] == "blr" else "TNMC"
        row = m.Doctor(org_id=org_id, title="Dr.", first_name=doc.first, last_name=doc.last,
                       languages=list(doc.languages), fee_minor=doc.fee_minor, currency="INR",
                       registration_number=f"{council}-{41000 + index * 137}", tele_enabled=doc.tele)
        s.add(row)
        await s.flush()
        s.add_all(m.DoctorSpecialty(doctor_id=row.id, specialty=spec) for spec in doc.specialties)
        for key in doc.branches:
            branch = branches[key]
            s.add(m.DoctorBranch(doctor_id=row.id, branch_id=branch.id))
            # A doctor at two branches splits the week: Bengaluru early in the week, Chennai later.
            days = doc.days if len(doc.branches) == 1 else (
                tuple(d for d in doc.days if d < 3) if key == "blr" else tuple(d for d in doc.days if d >= 3))
            for weekday in days:
                for start, end in _HOURS[key]:
                    s.add(m.Schedule(doctor_id=row.id, branch_id=branch.id, weekday=weekday, start_time=start,
                                     end_time=end, slot_minutes=doc.slot))
        if doc.specialties == ("dentistry",):
            s.add(m.AppointmentType(org_id=org_id, doctor_id=row.id, name="Scaling and polishing",
                                    duration_min=60, mode="in_person", prepay_minor=50000))
    for day, name, branch_key in (
        (dt.date(2026, 1, 26), "Republic Day", None), (dt.date(2026, 8, 15), "Independence Day", None),
        (dt.date(2026, 10, 2), "Gandhi Jayanti", None), (dt.date(2026, 12, 25), "Christmas", None),
        (dt.date(2027, 1, 15), "Pongal", "maa"),
        (dt.date(2027, 1, 26), "Republic Day", None),
    ):
        s.add(m.Holiday(org_id=org_id, branch_id=branches[branch_key].id if branch_key else None, day=day,
                        name=name))
