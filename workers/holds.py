"""Holds that expire, and appointments that need rescheduling.

- `expire_holds` (arq cron) asks the booking core to release lapsed holds; each emits
  `hold.expired`, and the event consumer calls `notify_hold_expired` to tell the patient.
- `notify_needs_reschedule` answers `appointment.needs_reschedule` (leave added over a
  booking): a message offering the next free times with the same doctor; picking one
  (`resched_pick:{appointment}:{epoch}`) moves the booking (see `handle_pick`).
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.booking import models as bm
from bot.booking.errors import BookingError
from bot.booking.types import Actor, AppointmentStatus, AppointmentView
from bot.i18n import translator_for
from bot.messages import Channel, Choices, Option, Reply, Template, Text
from bot.outbox.api import queue_message
from bot.outbox.models import OutboundMessage
from bot.outbox.serialize import reply_from_dict
from workers.contact import contact_for
from workers.deps import Deps, deps_from_ctx
from workers.policy import branch_policy
from workers.timing import allowed_now

log = logging.getLogger(__name__)

OFFERED_TIMES = 3
_PICK = re.compile(r"^resched_pick:(\d+):(\d+)$")
OTHER_TIMES = "resched_other"


async def expire_holds(ctx: dict[str, Any]) -> int:
    """arq cron: release every lapsed hold (the `hold.expired` events carry the rest)."""
    deps = deps_from_ctx(ctx)
    released = await deps.booking.release_expired_holds()
    return len(released)


def _notice_template(deps: Deps, name: str, language: str, first_name: str | None,
                     appt: AppointmentView, branch: bm.Branch) -> Template:
    # The approved template the send job uses when WhatsApp's 24-hour window is closed.
    return deps.templates.build(
        name, language, {"patient_first_name": first_name or "-", "doctor_name": appt.doctor_name,
                         "clinic_name": branch.name, "start": appt.start},
        timezone=appt.timezone, country=branch.country)


async def notify_hold_expired(session: AsyncSession, deps: Deps, appt: AppointmentView, *,
                              now: dt.datetime) -> int | None:
    """Queue "your hold lapsed" for a patient's expired hold (once); returns the row id."""
    branch = await session.get(bm.Branch, appt.branch_id)
    row = await session.get(bm.Appointment, appt.id)
    contact = await contact_for(session, appt.patient_id, preferred=row.channel if row else None,
                                default_language=branch.language if branch else "en")
    if contact is None or branch is None:
        return None
    t = deps.translator(contact.language, country=branch.country, timezone=appt.timezone)
    policy = await branch_policy(session, appt.branch_id)
    text = Text(t("The time we were holding for you ({when} with {doctor}) was not confirmed in time and "
                  "has been released. Message us whenever you want to book again.",
                  when=t.datetime(appt.start), doctor=appt.doctor_name))
    return await queue_message(
        session, org_id=appt.org_id, channel=contact.channel, recipient=contact.recipient, reply=text,
        purpose="hold_expired", idempotency_key=f"hold_expired:{appt.id}",
        fallback=_notice_template(deps, "hold_expired", contact.language, contact.first_name, appt, branch),
        not_before=allowed_now(now, appt.timezone, policy.quiet), appointment_id=appt.id,
        patient_id=appt.patient_id, now=now)


async def notify_needs_reschedule(deps: Deps, appt: AppointmentView) -> int | None:
    """Queue the "please pick a new time" message with the next free times (once per version)."""
    now = deps.now()
    slots = await deps.booking.free_slots(
        appt.org_id, doctor_id=appt.doctor_id, branch_id=appt.branch_id,
        appointment_type_id=appt.appointment_type_id, after=now, limit=OFFERED_TIMES)
    async with deps.sessionmaker() as session, session.begin():
        branch = await session.get(bm.Branch, appt.branch_id)
        row = await session.get(bm.Appointment, appt.id)
        contact = await contact_for(session, appt.patient_id, preferred=row.channel if row else None,
                                    default_language=branch.language if branch else "en")
        if contact is None or branch is None:
            return None
        t = deps.translator(contact.language, country=branch.country, timezone=appt.timezone)
        policy = await branch_policy(session, appt.branch_id)
        body = t("Sorry, {name}: {doctor} is no longer available on {when} (booking {code}). "
                 "Please choose a new time.", name=contact.first_name, doctor=appt.doctor_name,
                 when=t.datetime(appt.start), code=appt.code)
        options = [Option(id=f"resched_pick:{appt.id}:{int(s.start.timestamp())}", title=t.datetime(s.start)[:24])
                   for s in slots]
        # The appointment rides along so "Other times" can open its reschedule conversation.
        options.append(Option(id=f"{OTHER_TIMES}:{appt.id}", title=t("Other times")))
        reply: Reply = Choices(body=body, options=tuple(options), button=t("Choose"))
        return await queue_message(
            session, org_id=appt.org_id, channel=contact.channel, recipient=contact.recipient, reply=reply,
            purpose="needs_reschedule", idempotency_key=f"needs_reschedule:{appt.id}:v{appt.version}",
            fallback=_notice_template(deps, "needs_reschedule", contact.language, contact.first_name, appt, branch),
            not_before=allowed_now(now, appt.timezone, policy.quiet), appointment_id=appt.id,
            patient_id=appt.patient_id, now=now)


async def handle_pick(booking: Any, sessionmaker: async_sessionmaker[AsyncSession], *, channel: Channel,
                      user_id: str, choice: str) -> tuple[int, tuple[Reply, ...]] | None:
    """A time picked from the needs-rescheduling message: move the booking there.
    Returns (appointment id, replies), or None when `choice` is not such a pick."""
    match = _PICK.match(choice)
    if not match:
        return None
    appt_id, epoch = int(match.group(1)), int(match.group(2))
    async with sessionmaker() as session:
        contact = None
        row = await session.get(bm.Appointment, appt_id)
        if row is not None:
            contact = await contact_for(session, row.patient_id, preferred=str(channel))
        branch = await session.get(bm.Branch, row.branch_id) if row else None
    if row is None or contact is None or contact.recipient != user_id or branch is None:
        return None
    appt = await booking.get_appointment(appt_id)
    t = translator_for(contact.language, timezone=appt.timezone, country=branch.country)
    start = dt.datetime.fromtimestamp(epoch, tz=dt.timezone.utc)
    try:
        moved = await booking.reschedule(appt_id, start=start, actor=Actor.PATIENT, channel=str(channel))
    except BookingError as exc:
        log.info("reschedule pick for %s refused: %s", appt_id, exc.code)
        return appt_id, (Text(t("Sorry, that time is no longer free. Reply with \"change\" to see other times.")),)
    if moved.status != AppointmentStatus.CONFIRMED and moved.status != AppointmentStatus.PENDING_PAYMENT:
        return appt_id, ()
    return appt_id, (Text(t("Done: your appointment with {doctor} is now on {when} (booking {code}).",
                            doctor=moved.doctor_name, when=t.datetime(moved.start), code=moved.code)),)


async def is_system_hold(session: AsyncSession, appointment_id: int) -> bool:
    """Whether an appointment is the ASAP cascade's own hold on a slot (never notified)."""
    from workers.models import AsapSlot  # noqa: PLC0415

    return (await session.scalar(select(AsapSlot.id).where(AsapSlot.hold_appointment_id == appointment_id)
                                 .limit(1))) is not None


async def other_times_appointment(sessionmaker: async_sessionmaker[AsyncSession], *, channel: Channel,
                                  user_id: str, choice: str) -> int | None:
    """The appointment named by an "Other times" choice (`resched_other:{id}`), when it is
    this address's to move; None for the old bare id or someone else's booking."""
    _, _, tail = choice.partition(":")
    if not tail.isdigit():
        return None
    async with sessionmaker() as session:
        row = await session.get(bm.Appointment, int(tail))
        contact = await contact_for(session, row.patient_id, preferred=str(channel)) if row else None
    return row.id if row is not None and contact is not None and contact.recipient == user_id else None


async def sms_pick(sessionmaker: async_sessionmaker[AsyncSession], *, channel: Channel, user_id: str,
                   text: str) -> str | None:
    """On SMS the needs-rescheduling list arrives as numbered text: the option id the
    patient's number stands for, while that appointment still needs a new time (else None)."""
    if channel is not Channel.SMS or not text.strip().isdigit():
        return None
    async with sessionmaker() as session:
        row = await session.scalar(
            select(OutboundMessage).where(OutboundMessage.channel == str(channel),
                                          OutboundMessage.recipient == user_id,
                                          OutboundMessage.purpose == "needs_reschedule")
            .order_by(OutboundMessage.id.desc()).limit(1))
        appt = await session.get(bm.Appointment, row.appointment_id) if row and row.appointment_id else None
    if row is None or appt is None or not appt.needs_reschedule:
        return None
    menu = reply_from_dict(row.reply)
    number = int(text.strip())
    if not isinstance(menu, Choices) or not 1 <= number <= len(menu.options):
        return None
    return menu.options[number - 1].id
