"""Slot search and booking latency on a realistic load (prints figures; not a test).

    .venv/bin/python bench/slots.py                                   # SQLite file under var/bench/
    .venv/bin/python bench/slots.py --database-url postgresql+asyncpg://postgres@127.0.0.1:5432/test

Builds 200 doctors (8 specialties, 4 branches) with 30 days of weekly schedules and
50,000 existing appointments, then measures through the real `BookingService`:
  * search: "next 10 free slots for a specialty on a date" (`free_slots(specialty=, day=, limit=10)`)
  * hold+confirm of a free slot found by a search.
On PostgreSQL a private database is created on that server and dropped afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import random
import secrets
import statistics
import sys
import time
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import insert, select, text
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.booking import models as m  # noqa: E402
from bot.booking.errors import SlotUnavailable  # noqa: E402
from bot.booking.identity import CODE_ALPHABET  # noqa: E402
from bot.booking.service import BookingService  # noqa: E402
from bot.booking.slots import cells_for  # noqa: E402
from bot.db import make_engine, make_sessionmaker  # noqa: E402
from bot.migrate import upgrade  # noqa: E402
from bot.models import import_all_models  # noqa: E402

SPECIALTIES = ("general_medicine", "dermatology", "pediatrics", "cardiology", "gynecology", "orthopedics", "ent",
               "dentistry")
TZ = "Asia/Kolkata"
UTC = dt.timezone.utc
FIRST_DAY = dt.date(2026, 3, 2)   # a Monday


def code_for(n: int) -> str:
    chars = []
    for _ in range(5):
        n, r = divmod(n, len(CODE_ALPHABET))
        chars.append(CODE_ALPHABET[r])
    return "MM-" + "".join(chars)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


async def build(sm, *, doctors: int, days: int, appointments: int, seed: int) -> dict[str, object]:
    rng = random.Random(seed)
    tz = ZoneInfo(TZ)
    async with sm() as s, s.begin():
        org = m.Organization(name="Bench Clinics", slug="bench")
        s.add(org)
        await s.flush()
        branches = [m.Branch(org_id=org.id, name=f"Branch {i}", city="Bengaluru", address="", timezone=TZ,
                             language="en", country="IN", currency="INR", lead_time_min=30, horizon_days=60,
                             cancel_window_min=120, refund_policy="", opening_hours={}) for i in range(4)]
        s.add_all(branches)
        await s.flush()
        t15 = m.AppointmentType(org_id=org.id, name="Consultation", duration_min=15, mode="in_person",
                                prepay_minor=0, currency="INR")
        s.add(t15)
        await s.flush()
        doc_rows = [dict(org_id=org.id, title="Dr.", first_name=f"Doc{i}", last_name=f"Bench{i}",
                         languages=["en"], fee_minor=50000, currency="INR", tele_enabled=i % 3 == 0, active=True)
                    for i in range(doctors)]
        await s.execute(insert(m.Doctor), doc_rows)
        doc_ids = sorted((await s.scalars(text("SELECT id FROM doctors"))).all())
        await s.execute(insert(m.DoctorSpecialty),
                        [dict(doctor_id=d, specialty=SPECIALTIES[i % len(SPECIALTIES)]) for i, d in enumerate(doc_ids)])
        doc_branch = {d: branches[i % len(branches)].id for i, d in enumerate(doc_ids)}
        await s.execute(insert(m.DoctorBranch), [dict(doctor_id=d, branch_id=b) for d, b in doc_branch.items()])
        sched = []
        for d in doc_ids:
            for wd in range(6):
                sched.append(dict(doctor_id=d, branch_id=doc_branch[d], weekday=wd, start_time=dt.time(9),
                                  end_time=dt.time(13), slot_minutes=15))
                sched.append(dict(doctor_id=d, branch_id=doc_branch[d], weekday=wd, start_time=dt.time(14),
                                  end_time=dt.time(18), slot_minutes=15))
        await s.execute(insert(m.Schedule), sched)
        await s.execute(insert(m.Patient), [dict(org_id=org.id, whatsapp_id=f"bench-{i}", relation="self")
                                            for i in range(5000)])
        patient_ids = (await s.scalars(text("SELECT id FROM patients"))).all()

        all_slots = []
        for offset in range(days):
            day = FIRST_DAY + dt.timedelta(days=offset)
            if day.weekday() == 6:
                continue
            for hour in (9, 10, 11, 12, 14, 15, 16, 17):
                for minute in (0, 15, 30, 45):
                    start = dt.datetime.combine(day, dt.time(hour, minute), tzinfo=tz).astimezone(UTC)
                    all_slots.extend((d, start) for d in doc_ids)
        chosen = rng.sample(all_slots, min(appointments, len(all_slots)))
        now = dt.datetime.combine(FIRST_DAY, dt.time(6), tzinfo=tz).astimezone(UTC)
        batch = 5000
        for i in range(0, len(chosen), batch):
            part = chosen[i:i + batch]
            rows = [dict(code=code_for(i + j), org_id=org.id, patient_id=rng.choice(patient_ids), doctor_id=d,
                         branch_id=doc_branch[d], appointment_type_id=t15.id, mode="in_person",
                         status="confirmed", start_at=st, end_at=st + dt.timedelta(minutes=15), prepay_minor=0,
                         currency="INR", paid=False, needs_reschedule=False, version=2, created_at=now,
                         updated_at=now) for j, (d, st) in enumerate(part)]
            await s.execute(insert(m.Appointment), rows)
        cells = []
        for aid, did, st, en in (await s.execute(
                select(m.Appointment.id, m.Appointment.doctor_id, m.Appointment.start_at, m.Appointment.end_at)
        )).all():
            cells.extend(dict(doctor_id=did, cell_start=c, appointment_id=aid) for c in cells_for(st, en))
        for i in range(0, len(cells), 20000):
            await s.execute(insert(m.SlotCell), cells[i:i + 20000])
    return {"org_id": org.id, "type_id": t15.id, "patients": list(patient_ids), "now": now,
            "appointments": len(chosen), "cells": len(cells), "doctors": len(doc_ids)}


async def run(url: str, args: argparse.Namespace) -> None:
    import_all_models()
    engine = make_engine(url)
    await upgrade(engine)
    sm = make_sessionmaker(engine)
    t0 = time.perf_counter()
    info = await build(sm, doctors=args.doctors, days=args.days, appointments=args.appointments, seed=args.seed)
    print(f"backend={engine.dialect.name} doctors={info['doctors']} days={args.days} "
          f"appointments={info['appointments']} cells={info['cells']} (built in {time.perf_counter() - t0:.1f}s)")
    if engine.dialect.name == "postgresql":
        async with engine.connect() as conn:
            await conn.execute(text("ANALYZE"))
            await conn.commit()
    now = info["now"]
    service = BookingService(sm, clock=lambda: now, max_live_holds=10_000)
    rng = random.Random(args.seed + 1)
    org_id, type_id = info["org_id"], info["type_id"]

    load_before = os.getloadavg()[0]
    for _ in range(20):  # warm up caches (statement compilation, zone data)
        await service.free_slots(org_id, specialty=rng.choice(SPECIALTIES),
                                 day=FIRST_DAY + dt.timedelta(days=rng.randrange(1, args.days)), limit=10)

    async def searches(svc: BookingService) -> tuple[list[float], list[float], int]:
        wall: list[float] = []
        cpu: list[float] = []   # this process's CPU (Python + the SQLite thread): load-independent
        empty = 0
        for _ in range(args.runs):
            day = FIRST_DAY + dt.timedelta(days=rng.randrange(1, args.days))
            t, c = time.perf_counter(), time.process_time()
            slots = await svc.free_slots(org_id, specialty=rng.choice(SPECIALTIES), day=day, limit=10)
            wall.append((time.perf_counter() - t) * 1000)
            cpu.append((time.process_time() - c) * 1000)
            empty += not slots
        return wall, cpu, empty

    # The service as deployed (directory cached for a few seconds), then with the cache off,
    # i.e. every search also reads branches, doctors and weekly schedules.
    search_ms, search_cpu_ms, empty = await searches(service)
    cold_ms, cold_cpu_ms, _ = await searches(BookingService(sm, clock=lambda: now, directory_ttl=0))

    book_ms: list[float] = []
    book_cpu_ms: list[float] = []
    lost = 0
    for _ in range(args.runs):
        day = FIRST_DAY + dt.timedelta(days=rng.randrange(1, args.days))
        slots = await service.free_slots(org_id, specialty=rng.choice(SPECIALTIES), day=day, limit=10)
        if not slots:
            continue
        slot = rng.choice(slots)
        t, c = time.perf_counter(), time.process_time()
        try:
            held = await service.hold(org_id, patient_id=rng.choice(info["patients"]), doctor_id=slot.doctor_id,
                                      branch_id=slot.branch_id, appointment_type_id=type_id, start=slot.start)
            await service.confirm(held.id)
        except SlotUnavailable:
            lost += 1
        book_ms.append((time.perf_counter() - t) * 1000)
        book_cpu_ms.append((time.process_time() - c) * 1000)

    print(f"search  next-10 by specialty+date: n={len(search_ms)} p50={statistics.median(search_ms):.2f} ms "
          f"p95={pct(search_ms, 0.95):.2f} ms max={max(search_ms):.2f} ms (empty days: {empty}); "
          f"client CPU p50={statistics.median(search_cpu_ms):.2f} ms p95={pct(search_cpu_ms, 0.95):.2f} ms")
    print(f"search, directory cache off:       n={len(cold_ms)} p50={statistics.median(cold_ms):.2f} ms "
          f"p95={pct(cold_ms, 0.95):.2f} ms max={max(cold_ms):.2f} ms; "
          f"client CPU p50={statistics.median(cold_cpu_ms):.2f} ms p95={pct(cold_cpu_ms, 0.95):.2f} ms")
    print(f"hold+confirm:                      n={len(book_ms)} p50={statistics.median(book_ms):.2f} ms "
          f"p95={pct(book_ms, 0.95):.2f} ms max={max(book_ms):.2f} ms (lost races: {lost}); "
          f"client CPU p50={statistics.median(book_cpu_ms):.2f} ms p95={pct(book_cpu_ms, 0.95):.2f} ms")
    print(f"machine 1-min load average: {load_before:.1f} before measuring, {os.getloadavg()[0]:.1f} after, "
          f"on {os.cpu_count()} CPUs")
    await engine.dispose()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", ""))
    parser.add_argument("--doctors", type=int, default=200)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--appointments", type=int, default=50_000)
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    url = args.database_url
    if not url or url.startswith("sqlite"):
        path = Path(__file__).resolve().parent.parent / "var" / "bench" / "slots.db"
        path.parent.mkdir(parents=True, exist_ok=True)
        for suffix in ("", "-wal", "-shm"):
            Path(str(path) + suffix).unlink(missing_ok=True)
        await run(f"sqlite+aiosqlite:///{path}", args)
        return
    if url.startswith("postgresql://"):
        url = "postgresql+asyncpg://" + url.split("://", 1)[1]
    name = f"mymedic_bench_{os.getpid()}_{secrets.token_hex(3)}"
    admin = make_engine(url, isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        await conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        await run(make_url(url).set(database=name).render_as_string(hide_password=False), args)
    finally:
        async with admin.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()


if __name__ == "__main__":
    asyncio.run(main())
