"""Scheduled sends: reminders and tele join links as database rows.

Every scheduled send is a `ScheduledSend` row pinned to the appointment's start time;
`sync_appointments` keeps the rows of an appointment in step with what it now is
(moved: new rows, old ones stale; cancelled: none), `send_scheduled` is the arq job that
re-reads the appointment and hands the message to the outbox, and `sweep_scheduled` is
the cron safety net that enqueues every due row (a missed deferral is caught there;
the row's status makes the second run a no-op, so it is still sent once).

The arq job id carries the appointment's start time and version: arq drops an enqueue
whose job id still exists (queued or running), so duplicates collapse, and an id that
changes when the appointment changes lets the new time be reminded while the old job,
when it runs, finds nothing to do. A finished job keeps no result (`keep_result=0`): a
later enqueue of the same row runs and is a no-op by the row's status.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from arq.connections import ArqRedis
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.booking import models as bm
from bot.booking.types import AppointmentStatus, AppointmentView, VisitMode
from bot.messages import Template
from bot.outbox.api import queue_messages
from workers.contact import Contact, contact_for
from workers.delivery import enqueue_batches
from workers.deps import Deps, deps_from_ctx
from workers.models import ScheduledSend
from workers.policy import Policy, branch_policy
from workers.timing import reminder_send_time

log = logging.getLogger(__name__)

REMINDER = "reminder"
TELE_LINK = "tele_link"

SEND_SCHEDULED_JOB = "send_scheduled"
SWEEP_SCHEDULED_JOB = "sweep_scheduled"

# Rows due within this horizon are handed to arq (deferred to their time); later ones
# wait in the database for a sweep, so Redis never holds months of future jobs.
LOOKAHEAD = dt.timedelta(minutes=5)
# How far ahead one sweep feeds a reminder wave (the sweep runs every minute).
WAVE_AHEAD_S = 90.0
# Wave leaders are spaced at this share of a batch's send time: a little faster than the
# sender drains them, so a slow batch never idles the sender.
LEADER_SPACING_SHARE = 0.9
# Due rows one send job settles together (its own and up to this many minus one others).
SEND_BATCH = 50
# A job may run a little before its time (clock skew between hosts); beyond this it waits.
EARLY_TOLERANCE = dt.timedelta(seconds=2)

# Statuses a row can come back from when the appointment returns to that shape.
_REVIVABLE = {"stale", "cancelled"}


def scheduled_job_id(kind: str, appointment_id: int, offset_min: int, start: dt.datetime, version: int) -> str:
    """The arq job id of one scheduled send: it changes whenever the appointment does."""
    return f"{kind}:{appointment_id}:{offset_min}:{int(start.timestamp())}:v{version}"


@dataclass(frozen=True, slots=True)
class Planned:
    kind: str
    offset_min: int
    send_at: dt.datetime


def plan(appt: AppointmentView, policy: Policy, *, booked_at: dt.datetime) -> list[Planned]:
    """What an appointment in its current state should be sent, and when (pure)."""
    out: list[Planned] = []
    if appt.status == AppointmentStatus.CONFIRMED and not appt.needs_reschedule:
        for offset in policy.offsets:
            at = reminder_send_time(appt.start, offset, appt.timezone, quiet=policy.quiet, booked_at=booked_at)
            if at is not None:
                out.append(Planned(REMINDER, int(offset.total_seconds() // 60), at))
        prepaid = appt.prepay_minor <= 0 or appt.paid
        if appt.mode == VisitMode.TELE and prepaid and booked_at < appt.end:
            # Booked (or paid) inside the lead time: the link goes at once.
            at = max(appt.start - policy.tele_link_before, booked_at)
            out.append(Planned(TELE_LINK, int(policy.tele_link_before.total_seconds() // 60), at))
    return out


async def sync_appointments(
    session: AsyncSession,
    appointments: Sequence[AppointmentView],
    *,
    booked_at: dt.datetime,
    now: dt.datetime,
    policies: dict[int, Policy] | None = None,
) -> list[ScheduledSend]:
    """Bring the scheduled rows of `appointments` in step with their current state, in the
    caller's transaction. Returns the rows due within `LOOKAHEAD` (enqueue them after commit)."""
    if not appointments:
        return []
    policies = {} if policies is None else policies
    ids = [a.id for a in appointments]
    existing: dict[int, list[ScheduledSend]] = {}
    for chunk in _chunks(ids, 900):
        rows = (await session.execute(
            select(ScheduledSend).where(ScheduledSend.appointment_id.in_(chunk))
        )).scalars().all()
        for row in rows:
            existing.setdefault(row.appointment_id, []).append(row)
    due: list[ScheduledSend] = []
    new_rows: list[dict[str, Any]] = []
    due_new: list[str] = []  # job ids of new rows due soon (read back after the insert)
    for appt in appointments:
        policy = policies.get(appt.branch_id)
        if policy is None:
            policy = policies[appt.branch_id] = await branch_policy(session, appt.branch_id)
        planned = {(p.kind, p.offset_min): p for p in plan(appt, policy, booked_at=booked_at)}
        rows = existing.get(appt.id, [])
        by_key = {(r.kind, r.offset_min, r.appointment_start): r for r in rows}
        for row in rows:
            keep = (row.kind, row.offset_min) in planned and row.appointment_start == appt.start
            if row.status == "scheduled" and not keep:
                row.status = "stale" if row.appointment_start != appt.start else "cancelled"
                row.reason = str(appt.status) if row.status == "cancelled" else "moved"
                row.processed_at = now
        for (kind, offset_min), p in planned.items():
            row = by_key.get((kind, offset_min, appt.start))
            job_id = scheduled_job_id(kind, appt.id, offset_min, appt.start, appt.version)
            if row is None:
                # Plain values, not ORM objects: a reminder wave plans tens of thousands.
                new_rows.append({
                    "org_id": appt.org_id, "appointment_id": appt.id, "kind": kind, "offset_min": offset_min,
                    "appointment_start": appt.start, "appointment_version": appt.version, "send_at": p.send_at,
                    "status": "scheduled", "job_id": job_id, "created_at": now,
                })
                if p.send_at <= now + LOOKAHEAD:
                    due_new.append(job_id)
                continue
            if row.status in _REVIVABLE or (row.status == "scheduled" and row.job_id != job_id):
                row.status, row.reason, row.processed_at = "scheduled", None, None
                row.appointment_version, row.job_id, row.send_at = appt.version, job_id, p.send_at
            elif row.status != "scheduled":
                continue  # already sent (or skipped for good): never twice
            if row.send_at <= now + LOOKAHEAD:
                due.append(row)
    if new_rows:
        # One executemany for the new rows; only the few due soon are read back for their ids.
        await session.execute(insert(ScheduledSend), new_rows)
        for chunk in _chunks(sorted(due_new), 500):  # type: ignore[arg-type]
            due += (await session.execute(select(ScheduledSend).where(ScheduledSend.job_id.in_(chunk)))).scalars().all()
    await session.flush()
    return due


def _chunks(items: Sequence[int], size: int) -> Iterable[Sequence[int]]:
    for i in range(0, len(items), size):
        yield items[i:i + size]


async def enqueue_scheduled(
    arq: ArqRedis | None, rows: Sequence[Any], *, now: dt.datetime, delays: Sequence[float] | None = None,
) -> int:
    """Hand due rows (anything with `id`, `send_at`, `job_id`) to arq, deferred to their time
    as seen by `now` (the injectable clock), or by `delays` when given. Returns how many were
    new to arq (a job id that still exists is dropped by arq)."""
    if arq is None:
        return 0
    added = 0
    for i, row in enumerate(rows):
        delay = delays[i] if delays is not None else max((row.send_at - now).total_seconds(), 0.0)
        job = await arq.enqueue_job(SEND_SCHEDULED_JOB, row.id, _job_id=row.job_id,
                                    _defer_by=delay if delay > 0 else None)
        added += job is not None
    return added


async def sync_and_enqueue(deps: Deps, appointment_ids: Sequence[int], *, booked_at: dt.datetime | None = None) -> None:
    """Re-plan the scheduled sends of some appointments and enqueue what is due soon."""
    now = deps.now()
    async with deps.sessionmaker() as session, session.begin():
        views = await load_views(session, appointment_ids)
        due = await sync_appointments(session, views, booked_at=booked_at or now, now=now)
    await enqueue_scheduled(deps.arq, due, now=now)


async def load_views(session: AsyncSession, appointment_ids: Iterable[int]) -> list[AppointmentView]:
    """Appointment views read in the caller's session (no nested booking transaction).

    Related rows are loaded in one query per table and the views built from them (the
    same fields as `bot.booking.views.appointment_view`, without a query per row); the rows
    stay in the session for the rest of its life."""
    ids = sorted(set(appointment_ids))
    out: list[AppointmentView] = []
    for chunk in _chunks(ids, 900):
        rows = (await session.execute(select(bm.Appointment).where(bm.Appointment.id.in_(chunk)))).scalars().all()
        related: dict[Any, dict[int, Any]] = {}
        for model, key in ((bm.Patient, "patient_id"), (bm.Doctor, "doctor_id"), (bm.Branch, "branch_id"),
                           (bm.AppointmentType, "appointment_type_id")):
            wanted = sorted({getattr(r, key) for r in rows})
            found = (await session.execute(select(model).where(model.id.in_(wanted)))).scalars().all() if wanted else []
            related[model] = {x.id: x for x in found}
        # The session's identity map holds rows weakly: pin them for the session's life, so
        # the callers' `session.get` of these patients, branches and appointments (contact,
        # composing) are map hits instead of one query per row.
        session.info.setdefault("pinned_rows", []).extend([*rows, *(x for d in related.values() for x in d.values())])
        for row in rows:
            patient = related[bm.Patient][row.patient_id]
            doctor = related[bm.Doctor][row.doctor_id]
            branch = related[bm.Branch][row.branch_id]
            atype = related[bm.AppointmentType][row.appointment_type_id]
            out.append(AppointmentView(
                id=row.id, code=row.code, org_id=row.org_id, status=AppointmentStatus(row.status),
                patient_id=row.patient_id, patient_name=patient.name, doctor_id=row.doctor_id,
                doctor_name=f"{doctor.title} {doctor.first_name} {doctor.last_name}".strip(),
                branch_id=row.branch_id, branch_name=branch.name, appointment_type_id=row.appointment_type_id,
                appointment_type_name=atype.name, mode=VisitMode(row.mode), start=row.start_at, end=row.end_at,
                timezone=branch.timezone, prepay_minor=row.prepay_minor, currency=row.currency, paid=row.paid,
                hold_expires_at=row.hold_expires_at, needs_reschedule=row.needs_reschedule, version=row.version,
            ))
    return out


# --- the job ---------------------------------------------------------------------------

# kind -> builds the message for a row that is still owed, or None with a reason to skip.
Composer = Callable[[AsyncSession, Deps, ScheduledSend, AppointmentView, Contact], Awaitable["Composed"]]


@dataclass(frozen=True, slots=True)
class Composed:
    template: Template | None
    skip_reason: str | None = None
    purpose: str = "reminder"


def _composers() -> dict[str, Composer]:
    # Imported here: the kinds' modules import this one for its constants.
    from workers.reminders import compose_reminder  # noqa: PLC0415
    from workers.tele import compose_tele_link  # noqa: PLC0415

    return {REMINDER: compose_reminder, TELE_LINK: compose_tele_link}


def _still_owed(row: ScheduledSend, appt: AppointmentView | None, now: dt.datetime) -> str | None:
    """Why a row is no longer owed (None: it is)."""
    if appt is None:
        return "gone"
    if appt.start != row.appointment_start:
        return "moved"
    if row.kind in (REMINDER, TELE_LINK):
        if appt.status != AppointmentStatus.CONFIRMED:
            return str(appt.status)
        if row.kind == REMINDER and appt.needs_reschedule:
            return "needs_reschedule"
        if row.kind == REMINDER and now >= appt.start:
            return "too_late"
        if row.kind == TELE_LINK and now >= appt.end:
            return "too_late"
    return None


async def send_scheduled(ctx: dict[str, Any], send_id: int) -> str:
    """arq job: send one scheduled row if the appointment still wants it; returns the outcome.

    The job also takes up to `SEND_BATCH - 1` other rows that are due by now, in the same
    transaction: a reminder wave (thousands due in the same minutes) then costs one
    transaction and one read of appointments, patients and branches per batch instead of
    per row. The companions' own jobs find their rows done and are no-ops.
    """
    deps = deps_from_ctx(ctx)
    now = deps.now()
    queued: list[tuple[int, str, str | None]] = []
    resync: list[int] = []
    async with deps.sessionmaker() as session, session.begin():
        row = (await session.execute(
            select(ScheduledSend).where(ScheduledSend.id == send_id).with_for_update()
        )).scalar_one_or_none()
        if row is None:
            return "noop"
        owed = row.status == "scheduled"
        if owed and row.send_at > now + EARLY_TOLERANCE:
            # Early (clock skew between hosts): the sweep enqueues it again when it is due.
            return "early"
        if not owed and row.kind != REMINDER:
            return "noop"
        # Reminders only: composing one reads and writes nothing else, so a companion that
        # fails to compose is simply left to its own job (see `_send_one`). A reminder job
        # whose own row another batch took still takes a batch: the sweep hands a wave to
        # one job per batch, and none of them may come to nothing.
        companions = (await session.execute(
            select(ScheduledSend)
            .where(ScheduledSend.status == "scheduled", ScheduledSend.send_at <= now,
                   ScheduledSend.kind == REMINDER, ScheduledSend.id != send_id)
            .order_by(ScheduledSend.send_at, ScheduledSend.id).limit(SEND_BATCH - owed)
            # Rows another worker's batch holds are left to it (PostgreSQL; SQLite has one writer).
            .with_for_update(skip_locked=True)
        )).scalars().all()
        batch = [row, *companions] if owed else list(companions)
        if not batch:
            return "noop"
        views = {v.id: v for v in await load_views(session, {r.appointment_id for r in batch})}
        outcomes = {}
        # No autoflush: the rows' updates go out at commit, as one executemany.
        session.autoflush = False
        messages: list[tuple[ScheduledSend, dict[str, Any]]] = []
        for item in batch:
            outcome, message = await _send_one(session, deps, item, views.get(item.appointment_id), now,
                                               companion=item is not row)
            outcomes[item.id] = outcome
            if message is not None:
                messages.append((item, message))
            if outcome == "stale":
                resync.append(item.appointment_id)
        # The batch's messages in one INSERT: one at a time, each would wait for the event
        # loop's turn while this transaction holds SQLite's write lock.
        ids = await queue_messages(session, [message for _, message in messages])
        for (item, _), outbound_id in zip(messages, ids, strict=True):
            item.outbound_id = outbound_id
            queued.append((outbound_id, str(item.channel), None))
    if queued and deps.arq is not None:
        await enqueue_batches(deps.arq, deps.settings, queued)
    if resync:
        # The old reminder is a no-op; make sure the new time is reminded.
        await sync_and_enqueue(deps, resync)
    outcome = outcomes.get(send_id, "noop")
    log.info("scheduled send %s: %s (%d in its batch)", send_id, outcome, len(batch))
    return outcome


async def _send_one(
    session: AsyncSession, deps: Deps, row: ScheduledSend, appt: AppointmentView | None, now: dt.datetime,
    *, companion: bool = False,
) -> tuple[str, dict[str, Any] | None]:
    """Settle one claimed row in the caller's transaction: (outcome, the message to queue
    for it as `queue_message` arguments, if any; the caller sets the row's outbound id).

    A companion (another job's row taken into this batch) that fails to compose is left
    scheduled for its own job, which fails and retries alone: one bad row never holds
    back a wave."""
    reason = _still_owed(row, appt, now)
    if reason is not None:
        row.status = "stale" if reason == "moved" else "cancelled"
        row.reason, row.processed_at = reason, now
        return row.status, None
    assert appt is not None
    try:
        # load_views put the appointment, patient and branch in the session: these are map hits.
        branch = await session.get(bm.Branch, appt.branch_id)
        contact = await contact_for(session, appt.patient_id, preferred=await _booked_channel(session, appt.id),
                                    default_language=branch.language if branch else "en")
        composed = (await _composers()[row.kind](session, deps, row, appt, contact)
                    if contact is not None else Composed(None, "no_contact"))
    except Exception:
        if not companion:
            raise
        log.exception("scheduled send %s could not be composed; left to its own job", row.id)
        return "left", None
    if composed.template is None or contact is None:
        row.status, row.reason, row.processed_at = "skipped", composed.skip_reason, now
        return "skipped", None
    row.status, row.processed_at = "sent", now
    row.channel, row.recipient = str(contact.channel), contact.recipient
    return "sent", dict(
        org_id=appt.org_id, channel=contact.channel, recipient=contact.recipient,
        reply=composed.template, purpose=composed.purpose, idempotency_key=f"sched:{row.id}",
        appointment_id=appt.id, patient_id=appt.patient_id, now=now,
    )


async def _booked_channel(session: AsyncSession, appointment_id: int) -> str | None:
    row = await session.get(bm.Appointment, appointment_id)
    return row.channel if row is not None else None


async def sweep_scheduled(ctx: dict[str, Any]) -> int:
    """arq cron: enqueue the rows due within the lookahead (idempotent: job ids collapse).

    Reminders come in waves (thousands due in the same minute, or piled up at the edge of
    quiet hours). A job settles `SEND_BATCH` due reminders at once, so a wave gets one job
    per batch — a leader, under its first row's own job id — and the leaders are spread
    out at the sender's rate, for `WAVE_AHEAD_S` worth of sends per sweep: the wave is fed
    to the outbox as fast as it can be sent, never minutes ahead, and other jobs never
    queue behind it. The next sweep feeds the rest.
    """
    deps = deps_from_ctx(ctx)
    now = deps.now()
    columns = (ScheduledSend.id, ScheduledSend.kind, ScheduledSend.send_at, ScheduledSend.job_id)
    due = ScheduledSend.status == "scheduled", ScheduledSend.send_at <= now + LOOKAHEAD
    async with deps.sessionmaker() as session:
        others = (await session.execute(
            select(*columns).where(*due, ScheduledSend.kind != REMINDER).order_by(ScheduledSend.id)
        )).all()
        spacing_s = LEADER_SPACING_SHARE * SEND_BATCH / max(deps.settings.whatsapp_rate_per_s, 1)
        most = SEND_BATCH * (int(WAVE_AHEAD_S / spacing_s) + 1)
        reminders = (await session.execute(
            select(*columns).where(*due, ScheduledSend.kind == REMINDER)
            .order_by(ScheduledSend.send_at, ScheduledSend.id).limit(most)
        )).all()
    total = await enqueue_scheduled(deps.arq, others, now=now)
    leaders: list[tuple[Any, float]] = []
    group_start: dt.datetime | None = None
    in_group = 0
    for row in reminders:
        if max(row.send_at, now) != group_start:  # rows due at one moment (or overdue) form a group
            group_start, in_group = max(row.send_at, now), 0
        if in_group % SEND_BATCH == 0:
            until_due = max((row.send_at - now).total_seconds(), 0.0)
            leaders.append((row, max(until_due, len(leaders) * spacing_s)))
        in_group += 1
    total += await enqueue_scheduled(deps.arq, [r for r, _ in leaders], now=now,
                                     delays=[d for _, d in leaders])
    if total:
        log.info("scheduled sweep enqueued %d", total)
    return total
