"""The consumer of the booking core's event outbox (`pending_events` → handlers →
`mark_events_processed`), run by an arq cron every few seconds.

Per event it keeps the scheduled sends in step (reminders, tele links), opens tele
rooms, tells patients about lapsed holds and bookings that need a new time, and starts
the ASAP cascade for freed slots. Every handler is idempotent (unique rows, idempotency
keys), so an event handled twice — a crash before `mark_events_processed` — changes
nothing the second time.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from bot.booking.types import AppointmentStatus, EventView
from bot.outbox.api import enqueue_sends
from workers import asap, holds, tele
from workers.deps import Deps, deps_from_ctx
from workers.scheduled import enqueue_scheduled, load_views, sync_appointments

log = logging.getLogger(__name__)

EVENTS_JOB = "process_booking_events"
BATCH = 200
_APPOINTMENT_EVENTS = frozenset({
    "appointment.created", "appointment.updated", "appointment.cancelled", "appointment.completed",
    "appointment.no_show", "appointment.needs_reschedule", "hold.expired",
})


async def process_booking_events(ctx: dict[str, Any]) -> int:
    """arq job / cron: handle every pending booking event; returns how many."""
    deps = deps_from_ctx(ctx)
    total = 0
    while True:
        events = await deps.booking.pending_events(limit=BATCH)
        if not events:
            break
        await handle_events(deps, events)
        await deps.booking.mark_events_processed([e.id for e in events])
        total += len(events)
        if len(events) < BATCH:
            break
    return total


def _when(value: object) -> dt.datetime | None:
    if not isinstance(value, str):
        return None
    parsed = dt.datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.timezone.utc)


async def handle_events(deps: Deps, events: list[EventView]) -> None:
    """Handle one batch of events (see the module docstring)."""
    now = deps.now()
    relevant = [e for e in events if e.type in _APPOINTMENT_EVENTS and isinstance(e.payload.get("appointment_id"), int)]
    if not relevant:
        return
    due = []
    outbound: list[int] = []
    freed: list[int] = []
    needs_notice: list[int] = []
    async with deps.sessionmaker() as session, session.begin():
        views = {v.id: v for v in await load_views(session, {int(e.payload["appointment_id"]) for e in relevant})}
        latest: dict[int, EventView] = {}
        for event in relevant:
            appt_id = int(event.payload["appointment_id"])
            appt = views.get(appt_id)
            if appt is None or await holds.is_system_hold(session, appt_id):
                continue
            latest[appt_id] = event
            if event.type == "hold.expired":
                sent = await holds.notify_hold_expired(session, deps, appt, now=now)
                if sent is not None:
                    outbound.append(sent)
            if event.type in ("hold.expired", "appointment.cancelled"):
                slot = await asap.on_slot_freed(
                    session, org_id=appt.org_id, doctor_id=appt.doctor_id, branch_id=appt.branch_id,
                    appointment_type_id=appt.appointment_type_id, start=appt.start, end=appt.end,
                    timezone=appt.timezone, source_event_id=event.id, now=now)
                if slot is not None:
                    freed.append(slot)
            if event.type == "appointment.updated" and event.payload.get("change") == "rescheduled":
                old_start = _when(event.payload.get("from_start"))
                if old_start is not None:
                    old_doctor = event.payload.get("from_doctor_id")
                    slot = await asap.on_slot_freed(
                        session, org_id=appt.org_id,
                        doctor_id=int(old_doctor) if isinstance(old_doctor, int) else appt.doctor_id,
                        branch_id=appt.branch_id, appointment_type_id=appt.appointment_type_id,
                        start=old_start, end=old_start + (appt.end - appt.start), timezone=appt.timezone,
                        source_event_id=event.id, now=now)
                    if slot is not None:
                        freed.append(slot)
            if event.type == "appointment.needs_reschedule" and appt.needs_reschedule:
                needs_notice.append(appt_id)
        for appt_id, event in latest.items():
            appt = views[appt_id]
            await tele.on_appointment_changed(session, appt, now=now)
            due += await sync_appointments(session, [appt], booked_at=event.created_at, now=now)
    await enqueue_scheduled(deps.arq, due, now=now)
    if outbound and deps.arq is not None:
        await enqueue_sends(deps.arq, outbound)
    for appt_id in needs_notice:
        appt = await deps.booking.get_appointment(appt_id)
        if appt.needs_reschedule and appt.status in (AppointmentStatus.CONFIRMED, AppointmentStatus.PENDING_PAYMENT):
            sent = await holds.notify_needs_reschedule(deps, appt)
            if sent is not None and deps.arq is not None:
                await enqueue_sends(deps.arq, [sent])
    for slot_id in freed:
        await asap.advance(deps, slot_id)
