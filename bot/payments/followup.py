"""Payment follow-up (arq cron): remind once to pay, then release a booking still unpaid
when its payment window closes, and tell the patient.

The window runs from the link's creation: `MYMEDIC_PAYMENT_WINDOW_MIN` (default 30),
with the reminder at `MYMEDIC_PAYMENT_REMIND_MIN` (default 15).
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from sqlalchemy import select

from bot.booking import models as bm
from bot.booking.errors import BookingError
from bot.booking.types import Actor, AppointmentStatus
from bot.messages import Text
from bot.outbox.api import enqueue_sends, queue_message
from bot.payments.gateway import short_pay_url
from workers.contact import contact_for
from workers.deps import Deps, deps_from_ctx
from workers.models import PaymentLink
from workers.scheduled import load_views

log = logging.getLogger(__name__)

DEFAULT_WINDOW = dt.timedelta(minutes=30)
DEFAULT_REMIND = dt.timedelta(minutes=15)


def _minutes(deps: Deps, name: str, default: dt.timedelta) -> dt.timedelta:
    raw = deps.settings.extra.get(name)
    return dt.timedelta(minutes=int(raw)) if raw else default


async def payment_followup(ctx: dict[str, Any]) -> dict[str, int]:
    """Remind unpaid links once; release bookings whose window closed. Returns counts."""
    deps = deps_from_ctx(ctx)
    now = deps.now()
    window = _minutes(deps, "MYMEDIC_PAYMENT_WINDOW_MIN", DEFAULT_WINDOW)
    remind = _minutes(deps, "MYMEDIC_PAYMENT_REMIND_MIN", DEFAULT_REMIND)
    async with deps.sessionmaker() as session:
        links = list(await session.scalars(select(PaymentLink).where(
            PaymentLink.status == "created", PaymentLink.created_at <= now - remind).order_by(PaymentLink.id)
            .limit(500)))
    counts = {"reminded": 0, "released": 0}
    outbound: list[int] = []
    for link in links:
        if link.created_at <= now - window:
            released, notice = await _release(deps, link, now)
            counts["released"] += released
            if notice is not None:
                outbound.append(notice)
        elif link.reminded_at is None:
            sent = await _remind(deps, link, now)
            counts["reminded"] += sent is not None
            if sent:
                outbound.append(sent)
    if outbound and deps.arq is not None:
        await enqueue_sends(deps.arq, outbound)
    return counts


async def _remind(deps: Deps, link: PaymentLink, now: dt.datetime) -> int | None:
    async with deps.sessionmaker() as session, session.begin():
        row = await session.scalar(select(PaymentLink).where(PaymentLink.id == link.id).with_for_update())
        if row is None or row.status != "created" or row.reminded_at is not None:
            return None
        row.reminded_at = now
        views = await load_views(session, [row.appointment_id])
        if not views or views[0].status != AppointmentStatus.PENDING_PAYMENT or views[0].paid:
            return None
        appt = views[0]
        branch = await session.get(bm.Branch, appt.branch_id)
        contact = await contact_for(session, appt.patient_id, default_language=branch.language if branch else "en")
        if contact is None:
            return None
        template = deps.templates.build(
            "payment_link", contact.language,
            {"patient_first_name": contact.first_name or "-", "doctor_name": appt.doctor_name, "start": appt.start,
             "amount_minor": row.amount_minor, "currency": row.currency,
             "payment_link": short_pay_url(deps.settings, row.reference)},
            timezone=appt.timezone, country=branch.country if branch else "IN")
        return await queue_message(
            session, org_id=appt.org_id, channel=contact.channel, recipient=contact.recipient, reply=template,
            purpose="payment", idempotency_key=f"payremind:{row.reference}", appointment_id=appt.id,
            patient_id=appt.patient_id, now=now)


async def _release(deps: Deps, link: PaymentLink, now: dt.datetime) -> tuple[bool, int | None]:
    """Cancel the still-unpaid booking; returns (released, the notice's outbound id)."""
    appt = await deps.booking.get_appointment(link.appointment_id)
    if appt.status == AppointmentStatus.PENDING_PAYMENT and not appt.paid:
        try:
            appt = await deps.booking.cancel(appt.id, reason="unpaid", actor=Actor.SYSTEM)
        except BookingError as exc:
            log.info("release of unpaid appointment %s refused: %s", appt.id, exc.code)
            return False, None
        released = True
    else:
        released = False
    async with deps.sessionmaker() as session, session.begin():
        row = await session.scalar(select(PaymentLink).where(PaymentLink.id == link.id).with_for_update())
        if row is None or row.status != "created":
            return False, None
        row.status = "expired"
        if not released:
            return False, None
        branch = await session.get(bm.Branch, appt.branch_id)
        contact = await contact_for(session, appt.patient_id, default_language=branch.language if branch else "en")
        if contact is None:
            return True, None
        t = deps.translator(contact.language, country=branch.country if branch else "IN", timezone=appt.timezone)
        text = Text(t("We did not receive the payment for your appointment on {when} with {doctor}, "
                      "so the time has been released. Message us to book again.",
                      when=t.datetime(appt.start), doctor=appt.doctor_name))
        return True, await queue_message(
            session, org_id=appt.org_id, channel=contact.channel, recipient=contact.recipient, reply=text,
            purpose="payment", idempotency_key=f"payrelease:{row.reference}", appointment_id=appt.id,
            fallback=deps.templates.build(
                "payment_released", contact.language,
                {"patient_first_name": contact.first_name or "-", "doctor_name": appt.doctor_name,
                 "clinic_name": branch.name if branch else "-", "start": appt.start},
                timezone=appt.timezone, country=branch.country if branch else "IN"),
            patient_id=appt.patient_id, now=now)
