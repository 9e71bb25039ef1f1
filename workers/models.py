"""Tables owned by the time-driven workers: reminder policy per branch, scheduled sends,
reminder questions, the staff "to action" list, tele rooms and join tokens, ASAP offers,
and sandbox payment links.

Ids of booking-core rows (appointments, branches, patients…) are kept as plain integers:
the workers re-read the booking core through its service when they run, and a row here
that points at something gone is simply a no-op.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from bot.db import Base, UTCDateTime, utcnow


class BranchReminderPolicy(Base):
    """Per-branch timing of business-initiated messages (absent row = the defaults)."""

    __tablename__ = "branch_reminder_policies"

    branch_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    offsets_min: Mapped[str] = mapped_column(String(100), default="1440,120")  # comma list, minutes before
    quiet_start: Mapped[str] = mapped_column(String(5), default="21:00")        # branch-local HH:MM
    quiet_end: Mapped[str] = mapped_column(String(5), default="08:00")
    tele_link_min: Mapped[int] = mapped_column(Integer, default=10)
    asap_batch: Mapped[int] = mapped_column(Integer, default=3)
    asap_window_min: Mapped[int] = mapped_column(Integer, default=15)


class ScheduledSend(Base):
    """One scheduled business-initiated send for an appointment (a reminder, a tele join
    link, a payment follow-up), pinned to the appointment's start time.

    Unique per (appointment, kind, offset, start): scheduling twice collapses to one row,
    and a moved appointment gets new rows while the old ones become no-ops.
    """

    __tablename__ = "scheduled_sends"
    __table_args__ = (
        UniqueConstraint("appointment_id", "kind", "offset_min", "appointment_start"),
        Index("ix_scheduled_sends_status_send_at", "status", "send_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(Integer)
    appointment_id: Mapped[int] = mapped_column(Integer, index=True)
    kind: Mapped[str] = mapped_column(String(20))             # reminder | tele_link | pay_reminder
    offset_min: Mapped[int] = mapped_column(Integer)
    appointment_start: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    appointment_version: Mapped[int] = mapped_column(Integer)
    send_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    # scheduled → sent | skipped | stale (appointment moved) | cancelled
    status: Mapped[str] = mapped_column(String(16), default="scheduled")
    reason: Mapped[str | None] = mapped_column(String(40))
    job_id: Mapped[str] = mapped_column(String(120), unique=True)
    channel: Mapped[str | None] = mapped_column(String(16))
    recipient: Mapped[str | None] = mapped_column(String(64))
    outbound_id: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    processed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class ReminderQuestion(Base):
    """An open "which appointment?" question to a phone shared by several reminded patients."""

    __tablename__ = "reminder_questions"
    __table_args__ = (Index("ix_reminder_questions_user", "channel", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(Integer)
    channel: Mapped[str] = mapped_column(String(16))
    user_id: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(16))            # confirm | reschedule | cancel
    candidate_ids: Mapped[str] = mapped_column(String(400))    # appointment ids, comma list, in menu order
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    answered_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class AttendanceConfirmation(Base):
    """A patient confirmed they will come (the reminder's Confirm / "1")."""

    __tablename__ = "attendance_confirmations"

    appointment_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    appointment_version: Mapped[int] = mapped_column(Integer)
    channel: Mapped[str] = mapped_column(String(16))
    confirmed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class StaffAction(Base):
    """The staff "to action" list: patient messages the bot could not act on."""

    __tablename__ = "staff_actions"
    __table_args__ = (Index("ix_staff_actions_org_open", "org_id", "resolved_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(40))              # e.g. reminder_reply_unclear, cancel_refused
    channel: Mapped[str] = mapped_column(String(16))
    user_id: Mapped[str] = mapped_column(String(64))
    patient_id: Mapped[int | None] = mapped_column(Integer)
    appointment_id: Mapped[int | None] = mapped_column(Integer)
    text: Mapped[str | None] = mapped_column(Text)              # what the patient wrote (staff-only)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    resolved_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class TeleRoom(Base):
    """The meeting room of one tele appointment (created at confirmation)."""

    __tablename__ = "tele_rooms"

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(Integer)
    appointment_id: Mapped[int] = mapped_column(Integer, unique=True)
    room: Mapped[str] = mapped_column(String(64), unique=True)
    status: Mapped[str] = mapped_column(String(16), default="created")  # created|started|completed|failed
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    ended_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class TeleToken(Base):
    """A participant's short link token (`/t/{token}`): who it is for, when they joined."""

    __tablename__ = "tele_tokens"
    __table_args__ = (UniqueConstraint("room_id", "role"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    token: Mapped[str] = mapped_column(String(32), unique=True)
    room_id: Mapped[int] = mapped_column(Integer, index=True)
    role: Mapped[str] = mapped_column(String(16))               # patient | doctor
    subject: Mapped[str] = mapped_column(String(64))            # "patient:12" / "doctor:3"
    display_name: Mapped[str | None] = mapped_column(String(64))  # first name only
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    first_joined_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    last_joined_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    join_count: Mapped[int] = mapped_column(Integer, default=0)


class AsapSlot(Base):
    """A freed slot being offered down the ASAP list, a few patients per round."""

    __tablename__ = "asap_slots"
    __table_args__ = (Index("ix_asap_slots_status_window", "status", "window_ends_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(Integer)
    source_event_id: Mapped[int | None] = mapped_column(Integer, unique=True)
    doctor_id: Mapped[int] = mapped_column(Integer)
    branch_id: Mapped[int] = mapped_column(Integer)
    start: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    end: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    timezone: Mapped[str] = mapped_column(String(64))
    appointment_type_id: Mapped[int] = mapped_column(Integer)   # the freed booking's type
    # open (offers out) | waiting (quiet hours) | claimed | exhausted | lost (booked elsewhere)
    status: Mapped[str] = mapped_column(String(16), default="open")
    round: Mapped[int] = mapped_column(Integer, default=0)
    window_ends_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    hold_appointment_id: Mapped[int | None] = mapped_column(Integer)  # the system's hold on the slot
    claimed_appointment_id: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class AsapOffer(Base):
    """One offer of a freed slot to one waitlisted patient."""

    __tablename__ = "asap_offers"
    __table_args__ = (UniqueConstraint("slot_id", "waitlist_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    slot_id: Mapped[int] = mapped_column(Integer, index=True)
    waitlist_id: Mapped[int] = mapped_column(Integer)
    patient_id: Mapped[int] = mapped_column(Integer, index=True)
    appointment_type_id: Mapped[int] = mapped_column(Integer)
    round: Mapped[int] = mapped_column(Integer)
    channel: Mapped[str | None] = mapped_column(String(16))
    recipient: Mapped[str | None] = mapped_column(String(64))
    # offered → accepted | declined | expired | gone
    status: Mapped[str] = mapped_column(String(16), default="offered")
    offered_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    answered_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    appointment_id: Mapped[int | None] = mapped_column(Integer)  # the booking it produced


class PaymentLink(Base):
    """A payment link handed to a patient (the booking core's `payments` records captures)."""

    __tablename__ = "payment_links"

    id: Mapped[int] = mapped_column(primary_key=True)
    reference: Mapped[str] = mapped_column(String(40), unique=True)
    org_id: Mapped[int] = mapped_column(Integer)
    appointment_id: Mapped[int] = mapped_column(Integer, index=True)
    amount_minor: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(16), default="created")  # created|captured|expired
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    captured_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    reminded_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
