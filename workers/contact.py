"""How to reach the patient of an appointment: channel, address, language, first name.

Dependents share the account holder's phone / WhatsApp id, so their messages go there.
Only what a business-initiated message may carry is returned (first name, not full name).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from bot.booking import models as bm
from bot.messages import Channel


@dataclass(frozen=True, slots=True)
class Contact:
    channel: Channel
    recipient: str            # WhatsApp BSUID / wa_id, or an E.164 number for SMS
    language: str
    first_name: str
    patient_id: int
    holder_id: int            # the account holder whose phone it is


async def contact_for(
    session: AsyncSession, patient_id: int, *, preferred: str | None = None, default_language: str = "en",
) -> Contact | None:
    """The address for `patient_id` (None when there is no way to reach them).

    `preferred` is the channel the booking was made on; it wins when the patient has an
    address there, else WhatsApp beats SMS.
    """
    patient = await session.get(bm.Patient, patient_id)
    if patient is None:
        return None
    holder = patient
    if patient.account_holder_id is not None:
        holder = await session.get(bm.Patient, patient.account_holder_id) or patient
    whatsapp = patient.whatsapp_id or holder.whatsapp_id
    phone = patient.phone or holder.phone
    options: list[tuple[Channel, str]] = []
    if whatsapp:
        options.append((Channel.WHATSAPP, whatsapp))
    if phone:
        options.append((Channel.SMS, phone))
    if not options:
        return None
    options.sort(key=lambda o: 0 if preferred and str(o[0]) == preferred else 1)
    channel, recipient = options[0]
    first = (patient.name or "").split()
    return Contact(
        channel=channel, recipient=recipient,
        language=patient.language or holder.language or default_language,
        first_name=first[0] if first else "", patient_id=patient.id, holder_id=holder.id,
    )
