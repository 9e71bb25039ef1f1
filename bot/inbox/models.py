"""Tables of the staff inbox: one `handoffs` row per takeover, and the messages exchanged
while it is open (patient messages the bot did not answer, staff replies)."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from sqlalchemy import ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from bot.db import Base, UTCDateTime


class HandoffStatus(StrEnum):
    OPEN = "open"
    CLOSED = "closed"


class HandoffRow(Base):
    """A conversation handed to staff. At most one open row per (org, channel, user)."""

    __tablename__ = "handoffs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[int] = mapped_column(Integer, nullable=False)
    channel: Mapped[str] = mapped_column(String(16), nullable=False)
    account: Mapped[str] = mapped_column(String(64), nullable=False)
    user_id: Mapped[str] = mapped_column(String(128), nullable=False)
    patient_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    reason: Mapped[str] = mapped_column(String(64), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default=HandoffStatus.OPEN.value)
    assigned_to: Mapped[str | None] = mapped_column(String(128), nullable=True)
    opened_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), nullable=False)
    closed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    __table_args__ = (
        Index("ix_handoffs_org_status", "org_id", "status"),
        # The database, not a Python `if`, keeps one open handoff per conversation.
        Index(
            "uq_handoffs_open_user", "org_id", "channel", "user_id", unique=True,
            sqlite_where=text("status = 'open'"), postgresql_where=text("status = 'open'"),
        ),
    )


class HandoffMessageRow(Base):
    """One message of a handed-off conversation: `direction` "in" (patient) or "out" (staff)."""

    __tablename__ = "handoff_messages"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    handoff_id: Mapped[int] = mapped_column(
        ForeignKey("handoffs.id", ondelete="CASCADE"), nullable=False, index=True,
    )
    direction: Mapped[str] = mapped_column(String(8), nullable=False)
    provider_message_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    body: Mapped[str | None] = mapped_column(Text, nullable=True)
    staff: Mapped[str | None] = mapped_column(String(128), nullable=True)
    outbound_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), nullable=False)
