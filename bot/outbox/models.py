"""Tables of the outbox: inbound ids (dedupe), outbound messages, their statuses,
WhatsApp 24-hour windows, recipient opt-outs and dead letters.

Outbound rows are the record of what is owed to a patient: a send is a row first and an
arq job second, so losing Redis loses nothing (the sweep re-enqueues due rows).
No foreign keys to the booking tables on purpose: a message row must outlive any
change there (an appointment deleted by a purge still leaves its message history).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Boolean, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from bot.db import Base, UTCDateTime, utcnow


class OutboundState:
    """Values of `OutboundMessage.status` (a row only ever moves forward)."""

    QUEUED = "queued"          # owed: the sweep re-enqueues it when due
    SENT = "sent"              # the provider accepted it (we hold its id, or a status with our key)
    DELIVERED = "delivered"
    READ = "read"
    FAILED = "failed"          # permanent error, provider-reported failure, or dead-lettered
    SUPPRESSED = "suppressed"  # never sent on purpose: opted out / no consent

    PENDING = (QUEUED,)
    FINAL_UNSENT = (FAILED, SUPPRESSED)


class InboundMessage(Base):
    """A provider message id we have handled (unique; purged after 7 days)."""

    __tablename__ = "inbound_messages"
    __table_args__ = (UniqueConstraint("channel", "provider_message_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    channel: Mapped[str] = mapped_column(String(16))
    provider_message_id: Mapped[str] = mapped_column(String(128))
    org_id: Mapped[int] = mapped_column(Integer)
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class OutboundMessage(Base):
    """One message owed to a recipient, with its reply stored as JSON."""

    __tablename__ = "outbound_messages"
    __table_args__ = (
        Index("ix_outbound_messages_status_due_at", "status", "due_at"),
        # One recipient's rows in creation order: the send job's ordering checks.
        Index("ix_outbound_messages_recipient", "channel", "recipient", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[int] = mapped_column(Integer, index=True)
    channel: Mapped[str] = mapped_column(String(16))
    account: Mapped[str | None] = mapped_column(String(64))      # our sender: phone id / SMS number
    recipient: Mapped[str] = mapped_column(String(64))
    purpose: Mapped[str] = mapped_column(String(32))
    idempotency_key: Mapped[str] = mapped_column(String(128), unique=True)
    reply: Mapped[dict[str, Any]] = mapped_column(JSON)
    fallback: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # a Template, for outside the window
    status: Mapped[str] = mapped_column(String(16), default=OutboundState.QUEUED)
    not_before: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # When the sweep should next consider it: not_before (or creation), then each retry's time.
    due_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    appointment_id: Mapped[int | None] = mapped_column(Integer, index=True)
    patient_id: Mapped[int | None] = mapped_column(Integer)
    in_reply_to: Mapped[str | None] = mapped_column(String(128))
    provider_message_id: Mapped[str | None] = mapped_column(String(128), unique=True)
    used_fallback: Mapped[bool] = mapped_column(Boolean, default=False)
    # Held by the one job sending the row right now: a second run of the same row (a Redis
    # that lost its in-progress keys, a sweep racing a slow send) sees it and stands back.
    lease_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error_code: Mapped[str | None] = mapped_column(String(32))
    error_reason: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class OutboundStatus(Base):
    """One provider status for one message: stored once per (message, status)."""

    __tablename__ = "outbound_statuses"
    __table_args__ = (UniqueConstraint("provider_message_id", "status"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    outbound_id: Mapped[int | None] = mapped_column(Integer, index=True)  # None until matched
    channel: Mapped[str] = mapped_column(String(16))
    provider_message_id: Mapped[str] = mapped_column(String(128))
    idempotency_key: Mapped[str | None] = mapped_column(String(128), index=True)
    status: Mapped[str] = mapped_column(String(16))
    occurred_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    recorded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    error_code: Mapped[int | None] = mapped_column(Integer)


class WhatsAppWindow(Base):
    """The last time a WhatsApp user wrote to one of our numbers (opens 24 hours of free-form)."""

    __tablename__ = "whatsapp_windows"

    account: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    last_inbound_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class RecipientOptOut(Base):
    """Channel-level suppression of one address (STOP on SMS, Twilio 21610, …)."""

    __tablename__ = "recipient_opt_outs"

    channel: Mapped[str] = mapped_column(String(16), primary_key=True)
    recipient: Mapped[str] = mapped_column(String(64), primary_key=True)
    opted_out: Mapped[bool] = mapped_column(Boolean)
    source: Mapped[str] = mapped_column(String(64))
    changed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class DeadLetter(Base):
    """A send that exhausted its tries (arq keeps no dead-letter list; this is ours)."""

    __tablename__ = "dead_letters"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    outbound_id: Mapped[int] = mapped_column(Integer, index=True)
    reason: Mapped[str] = mapped_column(String(255))
    error_code: Mapped[str | None] = mapped_column(String(32))
    attempts: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    replayed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
