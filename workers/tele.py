"""Tele appointments in the workers: the room at confirmation, the join link N minutes
before (only once a required prepayment is captured), and the session's end.

`tele.session.completed` / `failed` come from the doctor marking the visit
(`appointment.completed` / `appointment.no_show`) or, when nobody joined by the end
time, from `sweep_tele_sessions`.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.booking import models as bm
from bot.booking.types import AppointmentStatus, AppointmentView, VisitMode
from bot.tele.rooms import PATIENT, ensure_room, finish_room, join_url, token_for
from workers.contact import Contact
from workers.deps import Deps, deps_from_ctx
from workers.models import ScheduledSend, TeleRoom
from workers.scheduled import Composed

log = logging.getLogger(__name__)


async def on_appointment_changed(session: AsyncSession, appt: AppointmentView, *, now: dt.datetime) -> None:
    """Create the room when a tele appointment is confirmed; close it when it ends."""
    if appt.mode != VisitMode.TELE:
        return
    if appt.status == AppointmentStatus.CONFIRMED:
        await ensure_room(session, appt, now=now)
    elif appt.status == AppointmentStatus.COMPLETED:
        await finish_room(session, appt.id, completed=True, now=now)
    elif appt.status == AppointmentStatus.NO_SHOW:
        await finish_room(session, appt.id, completed=False, now=now)
    elif appt.status == AppointmentStatus.CANCELLED:
        # No session was owed: close the room quietly so its links stop working.
        room = await session.scalar(select(TeleRoom).where(TeleRoom.appointment_id == appt.id))
        if room is not None and room.status in ("created", "started"):
            room.status, room.ended_at = "cancelled", now


async def compose_tele_link(
    session: AsyncSession, deps: Deps, row: ScheduledSend, appt: AppointmentView, contact: Contact,
) -> Composed:
    """The `tele_join_link` template with the patient's short link (prepayment checked)."""
    if appt.prepay_minor > 0 and not appt.paid:
        return Composed(None, "unpaid")
    room = await ensure_room(session, appt, now=deps.now())
    token = await token_for(session, room, PATIENT)
    branch = await session.get(bm.Branch, appt.branch_id)
    template = deps.templates.build(
        "tele_join_link", contact.language,
        {"patient_first_name": contact.first_name or "-", "doctor_name": appt.doctor_name, "start": appt.start,
         "join_link": join_url(deps.settings, token.token)},
        timezone=appt.timezone, country=branch.country if branch else "IN",
    )
    return Composed(template, purpose="tele_link")


async def sweep_tele_sessions(ctx: dict[str, Any]) -> int:
    """arq cron: rooms nobody joined by the appointment's end → `tele.session.failed`."""
    deps = deps_from_ctx(ctx)
    now = deps.now()
    closed = 0
    async with deps.sessionmaker() as session, session.begin():
        rows = (await session.execute(
            select(TeleRoom.appointment_id)
            .join(bm.Appointment, bm.Appointment.id == TeleRoom.appointment_id)
            .where(TeleRoom.status == "created", bm.Appointment.end_at <= now).limit(1000)
        )).scalars().all()
        for appointment_id in rows:
            closed += await finish_room(session, appointment_id, completed=False, now=now)
    if closed:
        log.info("tele sweep: %d sessions nobody joined", closed)
    return closed
