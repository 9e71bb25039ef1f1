"""The two vocabularies that cross the channel boundary, free of any SDK.

`Inbound` is what every channel turns a provider payload into; the abstract
replies (`Text`, `Choices`, `Buttons`, …) are what flows answer with and what each
channel renders in its own way. Flows and channels both import this module; it
imports nothing of theirs.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from enum import StrEnum


class Channel(StrEnum):
    WHATSAPP = "whatsapp"
    SMS = "sms"


class InboundKind(StrEnum):
    TEXT = "text"
    CHOICE = "choice"          # an interactive list row or reply button (or template quick reply)
    LOCATION = "location"
    MEDIA = "media"            # image, document, video, audio, sticker …
    REACTION = "reaction"
    CONTACTS = "contacts"
    UNSUPPORTED = "unsupported"


@dataclass(frozen=True, slots=True)
class Inbound:
    """One message a patient sent, normalized across channels."""

    channel: Channel
    account: str               # our side: WhatsApp phone_number_id, or the SMS number it was sent to
    user_id: str               # WhatsApp BSUID (else wa_id), or the sender's E.164 number on SMS
    message_id: str            # provider id (wamid… / SM…), unique per provider
    timestamp: dt.datetime     # provider timestamp, aware UTC
    kind: InboundKind
    phone: str | None = None   # E.164 when the provider gave it
    profile_name: str | None = None
    text: str | None = None
    choice_id: str | None = None
    choice_title: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    media_type: str | None = None
    reaction: str | None = None
    context_message_id: str | None = None  # the message this one replies to, when the provider says


@dataclass(frozen=True, slots=True)
class StatusUpdate:
    """A delivery status for one of our sends, as reported by the provider."""

    channel: Channel
    provider_message_id: str
    status: str                 # sent | delivered | read | failed (| queued | undelivered on SMS)
    timestamp: dt.datetime
    recipient: str | None = None
    error_code: int | None = None
    error_title: str | None = None
    idempotency_key: str | None = None  # our key, echoed back (biz_opaque_callback_data / callback URL)


# --- abstract replies -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Option:
    """One selectable option: `id` comes back as `Inbound.choice_id` when picked."""

    id: str
    title: str
    description: str | None = None


@dataclass(frozen=True, slots=True)
class Text:
    body: str


@dataclass(frozen=True, slots=True)
class Choices:
    """Pick one of up to 10 options (WhatsApp list, SMS numbered menu). Flows page longer lists."""

    body: str
    options: tuple[Option, ...]
    button: str = "Choose"
    header: str | None = None
    footer: str | None = None

    def __post_init__(self) -> None:
        if not 1 <= len(self.options) <= 10:
            raise ValueError(f"Choices takes 1 to 10 options, got {len(self.options)}")


@dataclass(frozen=True, slots=True)
class Buttons:
    """Pick one of up to 3 options (WhatsApp reply buttons, SMS numbered menu)."""

    body: str
    options: tuple[Option, ...]
    footer: str | None = None

    def __post_init__(self) -> None:
        if not 1 <= len(self.options) <= 3:
            raise ValueError(f"Buttons takes 1 to 3 options, got {len(self.options)}")


@dataclass(frozen=True, slots=True)
class PaymentRequest:
    """Ask the patient to pay `amount_minor` (paise for INR) at `url` (UPI link or gateway page)."""

    body: str
    amount_minor: int
    currency: str
    reference: str
    url: str


@dataclass(frozen=True, slots=True)
class Location:
    latitude: float
    longitude: float
    name: str
    address: str


@dataclass(frozen=True, slots=True)
class Handoff:
    """Tell the patient a person will take over; the dispatcher marks the conversation for staff."""

    body: str
    reason: str = "patient_request"


@dataclass(frozen=True, slots=True)
class Template:
    """An approved business-initiated template (used outside WhatsApp's 24-hour window)."""

    name: str
    language: str
    params: dict[str, str] = field(default_factory=dict)
    # Built by the template registry (bot/message_templates.py) so channels need not know it:
    components: tuple[dict, ...] = ()   # WhatsApp Graph API `template.components`
    fallback_text: str = ""             # the registered DLT SMS text with variables filled in


Reply = Text | Choices | Buttons | PaymentRequest | Location | Handoff | Template
