"""Reminder benchmark: schedule N reminders for tomorrow, then drain them through the
sandbox WhatsApp emulator at a configured rate.

    python bench/reminders.py [--count 100000] [--rate 80] [--drain N]

A throw-away deployment (bench/_harness.py: migrated database, embedded Redis, the web
app, and a second web process serving the WhatsApp emulator the worker sends to) is started. Setup (untimed) bulk-inserts N confirmed
appointments for tomorrow between 10:00 and 17:00 branch time, one WhatsApp patient
each, with the branch's reminder schedule set to the day-before reminder only (so N
appointments = N reminders). Then:

1. scheduling (timed): the reminder rows are planned exactly as the worker does it
   (`workers.scheduled.sync_appointments`, in batches of 2,000);
2. drain (a separate worker process, so its memory is its own): its clock jumps to
   tomorrow 09:00 (real time keeps running from there), the scheduled-send sweep runs
   every minute as the cron does (each run feeds the wave's next 90 s to arq), and a
   worker with the registry's jobs sends them to the emulator through the real pywa
   client under WHATSAPP_RATE_PER_S = --rate.

Printed: scheduling time (target < 60 s), achieved send rate as a share of the limit
(from the messages' send times; target >= 95 %, never above — the busiest second is
printed too, at the emulator and at the worker, with each send's transit between them) and
the worker's peak memory (VmHWM). Not a test: figures only.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import resource
import subprocess
import sys
import time
from array import array
from collections import Counter
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import func, insert, select, text  # noqa: E402

from bench._harness import ROOT, Deployment  # noqa: E402
from bot.booking import models as bm  # noqa: E402
from bot.db import make_engine, make_sessionmaker  # noqa: E402

ZONE = "Asia/Kolkata"
BATCH = 2000


def _days() -> tuple[dt.date, dt.date]:
    today = dt.datetime.now(ZoneInfo(ZONE)).date()
    return today, today + dt.timedelta(days=1)


async def setup(database_url: str, count: int) -> tuple[int, int]:
    """Bulk-insert `count` appointments for tomorrow (untimed); returns (branch id, first id)."""
    from workers.policy import set_branch_policy

    engine = make_engine(database_url)
    sm = make_sessionmaker(engine)
    _today, tomorrow = _days()
    async with sm() as s, s.begin():
        branch = (await s.scalars(select(bm.Branch).where(bm.Branch.timezone == ZONE).order_by(bm.Branch.id))).first()
        assert branch is not None, "the demo seed has an Indian branch"
        doctor_ids = list(await s.scalars(select(bm.DoctorBranch.doctor_id).where(
            bm.DoctorBranch.branch_id == branch.id)))
        atype = (await s.scalars(select(bm.AppointmentType).where(
            bm.AppointmentType.org_id == branch.org_id, bm.AppointmentType.mode == "in_person",
            bm.AppointmentType.doctor_id.is_(None)).order_by(bm.AppointmentType.id))).first()
        assert atype is not None
        await set_branch_policy(s, branch.id, offsets_min=(1440,))
        org_id, branch_id, type_id = branch.org_id, branch.id, atype.id
    zone = ZoneInfo(ZONE)
    first_id = None
    for start in range(0, count, BATCH):
        n = min(BATCH, count - start)
        async with sm() as s, s.begin():
            patients = [{"org_id": org_id, "name": f"Bench{start + i} Patient", "whatsapp_id": f"9197{start + i:08d}",
                         "language": "en", "relation": "self"} for i in range(n)]
            ids = list((await s.execute(insert(bm.Patient).returning(bm.Patient.id), patients)).scalars())
            now = dt.datetime.now(dt.timezone.utc)
            rows = []
            for i, pid in enumerate(ids):
                k = start + i
                minutes = 10 * 60 + (k // len(doctor_ids)) % (7 * 60)   # 10:00–16:59 local
                local = dt.datetime.combine(tomorrow, dt.time(minutes // 60, minutes % 60), tzinfo=zone)
                begin = local.astimezone(dt.timezone.utc)
                rows.append({"code": f"BM-{k:07d}", "org_id": org_id, "patient_id": pid,
                             "doctor_id": doctor_ids[k % len(doctor_ids)], "branch_id": branch_id,
                             "appointment_type_id": type_id, "mode": "in_person", "status": "confirmed",
                             "start_at": begin, "end_at": begin + dt.timedelta(minutes=15), "prepay_minor": 0,
                             "currency": "INR", "paid": False, "needs_reschedule": False, "version": 2,
                             "channel": "whatsapp", "created_at": now, "updated_at": now})
            appt_ids = list((await s.execute(insert(bm.Appointment).returning(bm.Appointment.id), rows)).scalars())
            first_id = first_id or appt_ids[0]
    if engine.dialect.name == "postgresql":
        # Fresh statistics after the bulk load, as autovacuum would have them in a running
        # clinic; without them the planner scans 100,000 appointments per batch.
        async with engine.connect() as conn:
            await conn.execute(text("ANALYZE"))
            await conn.commit()
    await engine.dispose()
    return branch_id, int(first_id or 0)


async def schedule(database_url: str) -> tuple[float, int]:
    """Plan every appointment's reminders as the worker does (timed); returns (seconds, rows)."""
    from workers.models import ScheduledSend
    from workers.scheduled import load_views, sync_appointments

    engine = make_engine(database_url)
    sm = make_sessionmaker(engine)
    today, _tomorrow = _days()
    now = dt.datetime.combine(today, dt.time(8, 0), tzinfo=ZoneInfo(ZONE)).astimezone(dt.timezone.utc)
    async with sm() as s:
        ids = list(await s.scalars(select(bm.Appointment.id).where(bm.Appointment.code.like("BM-%"))
                                   .order_by(bm.Appointment.id)))
    started = time.perf_counter()
    policies: dict[int, Any] = {}
    for i in range(0, len(ids), BATCH):
        async with sm() as s, s.begin():
            views = await load_views(s, ids[i:i + BATCH])
            await sync_appointments(s, views, booked_at=now, now=now, policies=policies)
    elapsed = time.perf_counter() - started
    async with sm() as s:
        rows = int(await s.scalar(select(func.count()).select_from(ScheduledSend)) or 0)
    await engine.dispose()
    return elapsed, rows


async def drain_child(count: int) -> None:
    """The worker process: clock at tomorrow 09:00 (then real time), sweep, burst worker."""
    from arq.constants import default_queue_name
    from arq.worker import Worker

    from bot.config import Settings
    from bot.heap import freeze_startup_heap
    from bot.messages import Channel
    from bot.outbox.models import OutboundMessage
    from workers import registry
    from workers.main import build_context, close_context
    from workers.scheduled import sweep_scheduled

    import logging

    logging.basicConfig(level=os.environ.get("BENCH_LOG_LEVEL", "WARNING"), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if os.environ.get("BENCH_LONG_HOLD_S"):  # log the worker's SQLite write transactions above this
        from bot.db import _WriteGate

        _WriteGate.LONG_HOLD_S = float(os.environ["BENCH_LONG_HOLD_S"])
    settings = Settings.from_env()
    _today, tomorrow = _days()
    target = dt.datetime.combine(tomorrow, dt.time(9, 0), tzinfo=ZoneInfo(ZONE)).astimezone(dt.timezone.utc)
    offset = target - dt.datetime.now(dt.timezone.utc)

    def clock() -> dt.datetime:
        return dt.datetime.now(dt.timezone.utc) + offset

    ctx = await build_context(settings, clock=clock)
    freeze_startup_heap()  # as the worker's start-up does
    # When the worker started each provider call (wall clock), by patient number (setup's
    # "9197" + 8 digits): the rate as the sender sees it, and each message's transit to the
    # emulator. Preallocated, so the worker's memory peak does not grow with it.
    call_at = array("d", bytes(8 * count))
    sender = ctx["senders"][Channel.WHATSAPP]
    real_send = sender.send

    traced: list[Any] = []  # BENCH_TRACEMALLOC: heap snapshots after a fifth of the sends, and at the end
    if os.environ.get("BENCH_TRACEMALLOC"):
        import tracemalloc

        tracemalloc.start(int(os.environ["BENCH_TRACEMALLOC"]))

    async def timed_send(recipient: str, *args: Any, **kwargs: Any) -> str:
        call_at[int(recipient[4:]) % count] = time.time()
        if traced == [] and os.environ.get("BENCH_TRACEMALLOC") and call_at[count // 5]:
            traced.append(tracemalloc.take_snapshot())
        return await real_send(recipient, *args, **kwargs)

    sender.send = timed_send
    statements: Counter[str] = Counter()
    if os.environ.get("BENCH_COUNT_SQL"):  # which statements a drain runs, and how often
        from sqlalchemy import event

        @event.listens_for(ctx["sessionmaker"].kw["bind"].sync_engine, "before_cursor_execute")
        def _count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
            statements[" ".join(statement.split())[:150]] += 1
    started, cpu_started = time.perf_counter(), time.process_time()
    worker = Worker(functions=registry.functions(), redis_pool=ctx["redis"], ctx=ctx, burst=True,
                    handle_signals=False, poll_delay=0.05, max_jobs=64, keep_result=0)
    # The cron sweep, back to back until every row was handed over, while the worker runs.
    profile_to = os.environ.get("BENCH_PROFILE_DRAIN")
    if profile_to:
        import cProfile

        prof = cProfile.Profile(time.process_time)  # CPU, not wall time: the web shares the cores
        prof.enable()
    engine = ctx["sessionmaker"].kw["bind"]

    async def cron_sweeps() -> None:
        # The scheduled sweep as the worker's cron runs it: at once, then every minute.
        while True:
            await sweep_scheduled(ctx)
            if engine.dialect.name == "postgresql":
                # What autovacuum's autoanalyze does in a running clinic; a server with it off
                # (this machine's) keeps the statistics of the empty tables the drain began
                # with, and the planner turns the status lookups into scans of 200,000 rows.
                async with engine.connect() as conn:
                    await conn.execute(text("ANALYZE outbound_messages, outbound_statuses, scheduled_sends"))
                    await conn.commit()
            await asyncio.sleep(60)

    sweeps = asyncio.create_task(cron_sweeps())
    deadline = time.monotonic() + 45 if profile_to else None  # a profile wants a bounded run
    while deadline is None or time.monotonic() < deadline:
        try:
            # A burst worker returns when the queue is empty: between sweeps, or at the end.
            await asyncio.wait_for(worker.async_run(), deadline - time.monotonic() if deadline else None)
        except TimeoutError:
            break
        if await _left(ctx) == 0 and await ctx["redis"].zcard(default_queue_name) == 0:
            break
        await asyncio.sleep(0.2)
    sweeps.cancel()
    elapsed = time.perf_counter() - started
    # The worker's own peak, taken before this process loads every sent message back to
    # count them: that read-back grows with the drain and is the benchmark's, not the worker's.
    peak_kb = _vm_hwm_kb()
    if traced:  # what grew between a fifth of the drain and its end, by where it was allocated
        grown = tracemalloc.take_snapshot().compare_to(traced[0], "traceback")
        for stat in grown[:15]:
            print(f"{stat.size_diff / 1024:+9.0f} KiB {stat.count_diff:+8d} blocks", file=sys.stderr)
            for line in stat.traceback.format(limit=int(os.environ["BENCH_TRACEMALLOC"]), most_recent_first=True):
                print(f"    {line}", file=sys.stderr)
        tracemalloc.stop()
    call_times = sorted(t for t in call_at if t)
    if os.environ.get("BENCH_CALL_TIMES"):  # per-call start times, to see where a drain idles
        Path(os.environ["BENCH_CALL_TIMES"]).write_text("\n".join(f"{t:.4f}" for t in call_times))
    for statement, n in statements.most_common(40):
        print(f"{n:7d} {statement}", file=sys.stderr)
    if profile_to:
        prof.disable()
        prof.dump_stats(profile_to)
    from bot.sandbox.store import SandboxStore

    # The last sends' delivered/read webhooks are still on their way (the emulator batches
    # them): give them up to 15 s to land before counting final statuses.
    settle_by = time.monotonic() + 15
    while True:
        async with ctx["sessionmaker"]() as s:
            statuses = dict((await s.execute(select(OutboundMessage.status, func.count())
                                             .group_by(OutboundMessage.status))).all())
        if set(statuses) <= {"read", "failed"} or time.monotonic() > settle_by:
            break
        await asyncio.sleep(0.5)
    async with ctx["sessionmaker"]() as s:
        recipients = list(await s.scalars(select(OutboundMessage.recipient).where(
            OutboundMessage.purpose == "reminder")))
    # When the emulator received each message (its own wall clock): the achieved rate.
    store = SandboxStore(ctx["redis"])
    received = [(m["at"], r) for r in recipients for m in await store.messages("whatsapp", r)]
    sent_at = [dt.datetime.fromtimestamp(at, dt.timezone.utc) for at, _r in received]
    await close_context(ctx)
    transit, busiest = _transit(received, call_at, count)
    span = (max(sent_at) - min(sent_at)).total_seconds() if len(sent_at) >= 2 else 0.0
    print(json.dumps({"elapsed_s": elapsed, "sent": len(sent_at), "statuses": statuses, "span_s": span,
                      "first": min(sent_at).isoformat() if sent_at else None,
                      "last": max(sent_at).isoformat() if sent_at else None,
                      "busiest_second": max(Counter(t.replace(microsecond=0) for t in sent_at).values(), default=0),
                      "busiest_second_sender": max(Counter(int(t) for t in call_times).values(), default=0),
                      "transit_ms": transit, "busiest_seconds": busiest,
                      "peak_kb": peak_kb, "peak_with_readback_kb": _vm_hwm_kb(), "jobs_failed": worker.jobs_failed,
                      "cpu_s": time.process_time() - cpu_started}))


def _transit(received: list[tuple[float, str]], call_at: array, count: int) -> tuple[dict[str, float], list[str]]:
    """Each message's transit (emulator receipt − the worker's call start), and the three
    busiest seconds at the emulator with the seconds their messages were started in: a
    second over the limit there that the worker did not start is bunching on the way."""
    pairs = [(at, at - call_at[int(r[4:]) % count]) for at, r in received if call_at[int(r[4:]) % count]]
    if not pairs:
        return {}, []
    ms = sorted(1000 * d for _at, d in pairs)
    stats = {"p50": ms[len(ms) // 2], "p99": ms[int(len(ms) * 0.99)], "max": ms[-1]}
    per_second = Counter(int(at) for at, _d in pairs)
    busiest = []
    for second, n in per_second.most_common(3):
        started = Counter(int(at - d) - second for at, d in pairs if int(at) == second)
        worst = max(1000 * d for at, d in pairs if int(at) == second)
        stamp = dt.datetime.fromtimestamp(second, dt.timezone.utc).strftime("%H:%M:%S")
        busiest.append(f"{stamp} {n} received (started: {dict(sorted(started.items()))}; "
                       f"worker started {_started_in(call_at, second)} then; transit max {worst:.0f} ms)")
    return stats, busiest


def _started_in(call_at: array, second: int) -> int:
    """Calls the worker started in that wall-clock second."""
    return sum(1 for t in call_at if int(t) == second)


async def _left(ctx: dict[str, Any]) -> int:
    from workers.models import ScheduledSend

    async with ctx["sessionmaker"]() as s:
        return int(await s.scalar(select(func.count()).select_from(ScheduledSend).where(
            ScheduledSend.status == "scheduled")) or 0)


def _vm_hwm_kb() -> int:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=100_000, help="reminders to schedule")
    parser.add_argument("--rate", type=int, default=80, help="WhatsApp send limit, messages per second")
    parser.add_argument("--drain", type=int, default=None, help="reminders to send (default: all)")
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL"))
    parser.add_argument("--drain-child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.drain_child:
        asyncio.run(drain_child(args.count))
        return 0
    drain = args.count if args.drain is None else min(args.drain, args.count)
    # Two web processes: ours (webhooks, statuses) and Meta's side (the emulator taking the
    # sends). Sharing one event loop, the emulator would note a send's arrival only when our
    # webhook handling let it, and report bursts the worker never sent.
    with Deployment(database_url=args.database_url, redis_url=os.environ.get("BENCH_REDIS_URL"), web=2,
                    workers=0, extra_env={"WHATSAPP_RATE_PER_S": str(args.rate)}) as dep:
        assert dep.database_url
        print(f"database: {dep.database_label}; {args.count} reminders, drain {drain} at {args.rate}/s", flush=True)
        asyncio.run(setup(dep.database_url, args.count))
        if os.environ.get("BENCH_PROFILE"):
            import cProfile
            import pstats

            prof = cProfile.Profile()
            prof.enable()
            seconds, rows = asyncio.run(schedule(dep.database_url))
            prof.disable()
            pstats.Stats(prof).sort_stats("cumulative").print_stats(25)
        else:
            seconds, rows = asyncio.run(schedule(dep.database_url))
        print(f"scheduling: {rows} reminder rows in {seconds:.1f} s "
              f"({rows / seconds:,.0f}/s; target < 60 s for 100,000)", flush=True)
        if drain < args.count:
            asyncio.run(_keep_only(dep.database_url, drain))
        env = {**dep.env, "PORT": str(dep.ports[0]), "WHATSAPP_API_BASE": f"{dep.base_urls[1]}/sandbox/graph"}
        web_cpu_before = sum(dep.cpu_seconds().values())
        out = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--drain-child", "--count", str(drain)],
                             env=env, cwd=ROOT, capture_output=True, text=True, check=False,
                             timeout=max(120, 3 * drain / args.rate + 60) * (4 if os.environ.get("BENCH_TRACEMALLOC") else 1))
        if any(os.environ.get(name) for name in ("BENCH_COUNT_SQL", "BENCH_LOG_LEVEL", "BENCH_TRACEMALLOC")):
            Path("bench-drain.log").write_text(out.stderr)
            print(out.stderr[-12000:] if os.environ.get("BENCH_COUNT_SQL") else "drain log: bench-drain.log")
        if out.returncode != 0 or not out.stdout.strip():
            print(out.stderr[-4000:])
            return 1
        result = json.loads(out.stdout.strip().splitlines()[-1])
        sent = result["sent"]
        span = result["span_s"]
        rate = (sent - 1) / span if span > 0 else 0.0
        print(f"drain: {sent}/{drain} sent in {result['elapsed_s']:.1f} s (statuses {result['statuses']}, "
              f"failed jobs {result['jobs_failed']})")
        print(f"send rate: {rate:.2f} msg/s = {rate / args.rate:.2%} of the {args.rate}/s limit "
              f"(target >= 95%, never above); busiest second {result['busiest_second']} messages at the emulator, "
              f"{result['busiest_second_sender']} calls started by the worker")
        transit = result["transit_ms"]
        if transit:
            print(f"transit, worker call start to emulator receipt: p50 {transit['p50']:.1f} ms, "
                  f"p99 {transit['p99']:.1f} ms, max {transit['max']:.0f} ms; busiest seconds at the emulator:")
            for line in result["busiest_seconds"]:
                print(f"  {line}")
        print(f"worker memory peak: {result['peak_kb'] / 1024:.0f} MiB (VmHWM at the drain's end; "
              f"{result['peak_with_readback_kb'] / 1024:.0f} MiB after the benchmark read the sent messages back)")
        web_cpu = sum(dep.cpu_seconds().values()) - web_cpu_before
        print(f"CPU per message sent: worker {1000 * result['cpu_s'] / max(sent, 1):.1f} ms, "
              f"web + emulator {1000 * web_cpu / max(sent, 1):.1f} ms (this machine: {os.cpu_count()} CPUs)")
    return 0


async def _keep_only(database_url: str, keep: int) -> None:
    """Send only the first `keep` reminders (the rest are marked skipped): a shorter drain."""
    from sqlalchemy import update

    from workers.models import ScheduledSend

    engine = make_engine(database_url)
    sm = make_sessionmaker(engine)
    async with sm() as s, s.begin():
        cutoff = await s.scalar(select(ScheduledSend.id).order_by(ScheduledSend.id).offset(keep).limit(1))
        if cutoff is not None:
            await s.execute(update(ScheduledSend).where(ScheduledSend.id >= cutoff)
                            .values(status="skipped", reason="bench"))
    await engine.dispose()


if __name__ == "__main__":
    raise SystemExit(main())
