"""`SandboxPaymentGateway`: `flows.ports.PaymentPort` backed by our own sandbox pay page.

A link is a `payment_links` row with an unguessable reference; the URL is our page
`{PUBLIC_URL}/sandbox/pay/{reference}` (the sandbox stands in for a UPI collect page).
Capture (`capture`) records the payment in the booking core (idempotent per reference),
marks the link captured and queues the receipt through the outbox.
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.booking import models as bm
from bot.booking.errors import BookingError
from bot.booking.types import Actor, AppointmentStatus, AppointmentView
from bot.config import Settings
from bot.db import utcnow
from bot.message_templates import TemplateRegistry, load_registry
from bot.outbox.api import queue_message
from workers.contact import contact_for
from workers.models import PaymentLink

log = logging.getLogger(__name__)

_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"


def new_reference() -> str:
    """An unguessable reference short enough for a DLT SMS variable inside a short link."""
    return "P" + "".join(secrets.choice(_ALPHABET) for _ in range(9))


def pay_url(settings: Settings, reference: str) -> str:
    """The pay page (the sandbox's stand-in for a UPI collect page)."""
    return f"{settings.public_url}/sandbox/pay/{reference}"


def short_pay_url(settings: Settings, reference: str) -> str:
    """The link put in templated messages: `{SHORT_LINK_BASE}/p/{reference}` redirects to
    the pay page (a DLT SMS variable holds 30 characters); the pay page itself without it."""
    if settings.short_link_base:
        return f"{settings.short_link_base}/p/{reference}"
    return pay_url(settings, reference)


@dataclass(frozen=True, slots=True)
class Capture:
    """The outcome of a capture: the appointment as it now is and the receipt row, if any."""

    ok: bool
    reason: str | None
    appointment: AppointmentView | None
    outbound_id: int | None


class SandboxPaymentGateway:
    """Implements `flows.ports.PaymentPort` (and capture, for the sandbox pay page)."""

    def __init__(self, settings: Settings, booking: Any, *,
                 sessionmaker: async_sessionmaker[AsyncSession] | None = None,
                 templates: TemplateRegistry | None = None) -> None:
        self._settings = settings
        self._booking = booking
        # The booking service's own sessionmaker unless one is given.
        self._sessionmaker = sessionmaker or booking._sessionmaker  # noqa: SLF001
        self._templates = templates
        self._clock = getattr(booking, "_clock", utcnow)

    @property
    def templates(self) -> TemplateRegistry:
        if self._templates is None:
            self._templates = load_registry()
        return self._templates

    async def payment_link(self, appointment: AppointmentView) -> tuple[str, str]:
        """(url, reference) for paying `appointment.prepay_minor`; the same open link again
        for the same appointment and amount."""
        if appointment.prepay_minor <= 0:
            raise ValueError("appointment has nothing to prepay")
        now = self._clock()
        async with self._sessionmaker() as session, session.begin():
            existing = await session.scalar(select(PaymentLink).where(
                PaymentLink.appointment_id == appointment.id, PaymentLink.status == "created",
                PaymentLink.amount_minor == appointment.prepay_minor))
            if existing is not None:
                return pay_url(self._settings, existing.reference), existing.reference
            link = PaymentLink(reference=new_reference(), org_id=appointment.org_id, appointment_id=appointment.id,
                               amount_minor=appointment.prepay_minor, currency=appointment.currency,
                               status="created", created_at=now)
            session.add(link)
        log.info("payment link created for appointment %s", appointment.id)
        return pay_url(self._settings, link.reference), link.reference

    async def get_link(self, reference: str) -> PaymentLink | None:
        async with self._sessionmaker() as session:
            return await session.scalar(select(PaymentLink).where(PaymentLink.reference == reference))

    async def capture(self, reference: str, *, channel: str = "sandbox") -> Capture:
        """Capture the payment behind `reference` (idempotent): the booking core confirms the
        appointment and the receipt is queued. Enqueue `Capture.outbound_id` after this returns."""
        link = await self.get_link(reference)
        if link is None:
            return Capture(False, "unknown", None, None)
        if link.status == "expired":
            return Capture(False, "expired", None, None)
        try:
            appt = await self._booking.record_payment(link.appointment_id, reference=reference,
                                                      amount_minor=link.amount_minor, actor=Actor.SYSTEM,
                                                      channel=channel)
        except BookingError as exc:
            log.info("capture of %s refused: %s", link.appointment_id, exc.code)
            return Capture(False, exc.code, None, None)
        now = self._clock()
        async with self._sessionmaker() as session, session.begin():
            row = await session.scalar(select(PaymentLink).where(PaymentLink.reference == reference)
                                       .with_for_update())
            assert row is not None
            if row.status != "captured":
                row.status, row.captured_at = "captured", now
            outbound_id = await self._queue_receipt(session, appt, row, now=now)
        return Capture(True, None, appt, outbound_id)

    async def _queue_receipt(self, session: AsyncSession, appt: AppointmentView, link: PaymentLink, *,
                             now: dt.datetime) -> int | None:
        if appt.status != AppointmentStatus.CONFIRMED:
            return None
        branch = await session.get(bm.Branch, appt.branch_id)
        contact = await contact_for(session, appt.patient_id, preferred=(await session.get(bm.Appointment, appt.id)).channel,
                                    default_language=branch.language if branch else "en")
        if contact is None:
            return None
        template = self.templates.build(
            "payment_receipt", contact.language,
            {"patient_first_name": contact.first_name or "-", "amount_minor": link.amount_minor,
             "currency": link.currency, "appointment_code": appt.code, "doctor_name": appt.doctor_name,
             "start": appt.start},
            timezone=appt.timezone, country=branch.country if branch else "IN")
        return await queue_message(
            session, org_id=appt.org_id, channel=contact.channel, recipient=contact.recipient, reply=template,
            purpose="payment", idempotency_key=f"receipt:{link.reference}", appointment_id=appt.id,
            patient_id=appt.patient_id, now=now)
