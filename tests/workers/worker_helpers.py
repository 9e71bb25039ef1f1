"""Helpers of the time-driven worker tests: a small clinic, a hand-moved clock shared by
the booking core and the jobs, the running app's handle, and `tick` / `drain`.

Time moves by the clock; `tick` then runs what cron would run (the database sweeps)
and a burst arq worker drains the queue — including the real send job, which delivers
to the emulator through the real pywa/twilio clients.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
from arq.constants import default_queue_name, job_key_prefix
from arq.utils import timestamp_ms
from arq.worker import Worker
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.booking import models as m
from bot.booking.service import BookingService
from bot.config import Settings
from bot.outbox.models import OutboundMessage
from bot.sandbox.store import SandboxStore
from workers import registry
from workers.asap import sweep_asap
from workers.booking_events import process_booking_events
from workers.holds import expire_holds
from workers.scheduled import sweep_scheduled
from workers.tele import sweep_tele_sessions

UTC = dt.timezone.utc
IST = ZoneInfo("Asia/Kolkata")
# Monday 2 March 2026, 08:00 in Kolkata: every test starts here.
START = dt.datetime(2026, 3, 2, 2, 30, tzinfo=UTC)


class Clock:
    """A clock the test moves by hand (booking core and jobs read the same one)."""

    def __init__(self, now: dt.datetime = START) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now

    def set(self, moment: dt.datetime) -> None:
        assert moment >= self.now, "time only moves forward"
        self.now = moment

    def advance(self, **delta: float) -> dt.datetime:
        self.now += dt.timedelta(**delta)
        return self.now


def ist(day: int, hour: int, minute: int = 0, month: int = 3) -> dt.datetime:
    """A wall-clock time in Kolkata in March 2026, as aware UTC."""
    return dt.datetime(2026, month, day, hour, minute, tzinfo=IST).astimezone(UTC)


@dataclass
class Clinic:
    org_id: int
    branch_id: int
    doctor_id: int       # general medicine, in person, Mon–Sat 09:00–13:00 + 14:00–17:00, 15-min slots
    tele_doctor_id: int  # dermatology, tele enabled, same hours
    type30_id: int
    type15_id: int
    tele_free_id: int    # 15-min tele, no prepayment
    tele_paid_id: int    # 15-min tele, prepaid 50000 paise
    extra: dict[str, int] = field(default_factory=dict)


async def build_clinic(db: async_sessionmaker[AsyncSession]) -> Clinic:
    async with db() as s, s.begin():
        org = m.Organization(name="Test Clinics", slug="test-workers")
        s.add(org)
        await s.flush()
        branch = m.Branch(org_id=org.id, name="Main Clinic", city="Bengaluru", address="1 MG Road", latitude=12.97,
                          longitude=77.59, timezone="Asia/Kolkata", language="en", country="IN", currency="INR",
                          lead_time_min=30, horizon_days=60, cancel_window_min=120, refund_policy="",
                          opening_hours={})
        d1 = m.Doctor(org_id=org.id, title="Dr.", first_name="Asha", last_name="Mehta", languages=["en"],
                      fee_minor=50000, currency="INR", tele_enabled=False)
        d2 = m.Doctor(org_id=org.id, title="Dr.", first_name="Karthik", last_name="Raman", languages=["en"],
                      fee_minor=70000, currency="INR", tele_enabled=True)
        s.add_all([branch, d1, d2])
        await s.flush()
        s.add_all([m.DoctorSpecialty(doctor_id=d1.id, specialty="general_medicine"),
                   m.DoctorSpecialty(doctor_id=d2.id, specialty="dermatology"),
                   m.DoctorBranch(doctor_id=d1.id, branch_id=branch.id),
                   m.DoctorBranch(doctor_id=d2.id, branch_id=branch.id)])
        for doc in (d1, d2):
            for wd in range(6):
                s.add(m.Schedule(doctor_id=doc.id, branch_id=branch.id, weekday=wd, start_time=dt.time(9),
                                 end_time=dt.time(13), slot_minutes=15))
                s.add(m.Schedule(doctor_id=doc.id, branch_id=branch.id, weekday=wd, start_time=dt.time(14),
                                 end_time=dt.time(17), slot_minutes=15))
        t30 = m.AppointmentType(org_id=org.id, name="Consultation", duration_min=30, mode="in_person",
                                prepay_minor=0, currency="INR")
        t15 = m.AppointmentType(org_id=org.id, name="Follow-up", duration_min=15, mode="in_person",
                                prepay_minor=0, currency="INR")
        tf = m.AppointmentType(org_id=org.id, doctor_id=d2.id, name="Video follow-up", duration_min=15,
                               mode="tele", prepay_minor=0, currency="INR")
        tp = m.AppointmentType(org_id=org.id, doctor_id=d2.id, name="Video consult", duration_min=15, mode="tele",
                               prepay_minor=50000, currency="INR")
        s.add_all([t30, t15, tf, tp])
        await s.flush()
        return Clinic(org.id, branch.id, d1.id, d2.id, t30.id, t15.id, tf.id, tp.id)


@dataclass
class App:
    settings: Settings
    store: SandboxStore
    http: aiohttp.ClientSession

    async def sent(self, channel: str, user: str) -> list[dict[str, Any]]:
        return await self.store.messages(channel, user.lstrip("+") if channel == "whatsapp" else user)


async def drop_deferred(ctx: dict[str, Any]) -> int:
    """Forget the arq jobs deferred into the (real) future, as a Redis that lost them would.

    arq defers on real time while the tests move a hand clock; the database sweeps, run
    at the clock's time, are what must bring every owed job back (the safety net)."""
    pool = ctx["redis"]
    ids = await pool.zrangebyscore(default_queue_name, timestamp_ms() + 1, "+inf")
    for job_id in ids:
        key = job_id.decode() if isinstance(job_id, bytes) else job_id
        await pool.zrem(default_queue_name, key)
        await pool.delete(job_key_prefix + key)
    return len(ids)


SEND_FUNCTIONS = ("workers.jobs.SEND", "workers.jobs.SEND_BATCH")


async def drain(ctx: dict[str, Any], *, deliver: bool = False) -> Worker:
    """Run every due job with a burst worker; with `deliver` the real send job too (to the
    emulator), else outbound rows stay queued for the test to read."""
    await drop_deferred(ctx)
    names = tuple(n for n in registry.FUNCTIONS if deliver or n not in SEND_FUNCTIONS)
    if not deliver:
        await _forget_sends(ctx)
    worker = Worker(functions=registry.functions(names), redis_pool=ctx["redis"], ctx=ctx, burst=True,
                    handle_signals=False, poll_delay=0.01, keep_result=3600)
    await worker.async_run()
    await drop_deferred(ctx)
    return worker


async def _forget_sends(ctx: dict[str, Any]) -> None:
    # Send jobs left for the outbox sweep (the delivery pipeline is tested on its own).
    pool = ctx["redis"]
    for job_id in await pool.zrange(default_queue_name, 0, -1):
        key = job_id.decode() if isinstance(job_id, bytes) else job_id
        if key.startswith(("send:", "send_batch:")):
            await pool.zrem(default_queue_name, key)
            await pool.delete(job_key_prefix + key)


async def tick(ctx: dict[str, Any], *, deliver: bool = False) -> None:
    """What cron does at the clock's current time, then drain the queue."""
    await expire_holds(ctx)
    await process_booking_events(ctx)
    await sweep_asap(ctx)
    await sweep_scheduled(ctx)
    await sweep_tele_sessions(ctx)
    await drain(ctx, deliver=deliver)


async def outbound(db: Any, *, purpose: str | None = None, appointment_id: int | None = None,
                   recipient: str | None = None) -> list[OutboundMessage]:
    async with db() as s:
        stmt = select(OutboundMessage).order_by(OutboundMessage.id)
        if purpose:
            stmt = stmt.where(OutboundMessage.purpose == purpose)
        if appointment_id:
            stmt = stmt.where(OutboundMessage.appointment_id == appointment_id)
        if recipient:
            stmt = stmt.where(OutboundMessage.recipient == recipient)
        return list((await s.scalars(stmt)).all())


async def book(booking: BookingService, clinic: Clinic, patient_id: int, start: dt.datetime, *,
               type_id: int | None = None, doctor_id: int | None = None, channel: str = "sms") -> Any:
    held = await booking.hold(clinic.org_id, patient_id=patient_id, doctor_id=doctor_id or clinic.doctor_id,
                              branch_id=clinic.branch_id, appointment_type_id=type_id or clinic.type30_id,
                              start=start, channel=channel)
    return await booking.confirm(held.id, channel=channel)
