"""Tables of the booking core (SQLAlchemy 2 declarative, one `bot.db.Base`).

Every timestamp is a `UTCDateTime` (aware UTC in, aware UTC out, on every backend).
Local wall-clock data (weekly schedules, holidays, snapshot days) is stored as
`Date`/`Time` and interpreted in the branch's IANA zone when slots are generated.

No double booking is enforced by `slot_cells`: every live appointment (held, pending
payment, confirmed…) owns one row per 5-minute cell it covers, and the primary key
(doctor_id, cell_start) makes two overlapping bookings for one doctor impossible on
SQLite and PostgreSQL alike, whatever their lengths.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    Time,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from bot.db import Base, UTCDateTime, utcnow

# Size of one occupancy cell. Slot starts and lengths are multiples of it in practice;
# bookings that are not are rounded outwards, which can only make them stricter.
CELL_MINUTES = 5


class Organization(Base):
    """A tenant: a clinic chain."""

    __tablename__ = "organizations"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    slug: Mapped[str] = mapped_column(String(80), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class ChannelAccount(Base):
    """Which organization a provider address belongs to (WhatsApp phone_number_id, SMS number)."""

    __tablename__ = "channel_accounts"
    __table_args__ = (UniqueConstraint("channel", "address"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), index=True)
    channel: Mapped[str] = mapped_column(String(20))      # "whatsapp" | "sms"
    address: Mapped[str] = mapped_column(String(64))


class Branch(Base):
    """A clinic location with its zone, locale, money and policies."""

    __tablename__ = "branches"

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    city: Mapped[str] = mapped_column(String(100))
    address: Mapped[str] = mapped_column(String(400), default="")
    latitude: Mapped[float | None]
    longitude: Mapped[float | None]
    timezone: Mapped[str] = mapped_column(String(64))
    language: Mapped[str] = mapped_column(String(8), default="en")
    country: Mapped[str] = mapped_column(String(2), default="IN")
    currency: Mapped[str] = mapped_column(String(3), default="INR")
    phone: Mapped[str | None] = mapped_column(String(20))
    map_url: Mapped[str | None] = mapped_column(String(400))
    # Booking window: no booking closer than lead_time_min from now, none beyond horizon_days.
    lead_time_min: Mapped[int] = mapped_column(Integer, default=30)
    horizon_days: Mapped[int] = mapped_column(Integer, default=60)
    # Patients may not cancel or move an appointment less than this many minutes before it.
    cancel_window_min: Mapped[int] = mapped_column(Integer, default=120)
    refund_policy: Mapped[str] = mapped_column(Text, default="")
    # {"mon": [["09:00", "18:00"]], …}: shown to patients; slots come from `schedules`.
    opening_hours: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class Doctor(Base):
    __tablename__ = "doctors"

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), index=True)
    title: Mapped[str] = mapped_column(String(20), default="Dr.")
    first_name: Mapped[str] = mapped_column(String(100))
    last_name: Mapped[str] = mapped_column(String(100), default="")
    languages: Mapped[list[str]] = mapped_column(JSON, default=list)   # ISO 639-1 codes
    fee_minor: Mapped[int] = mapped_column(Integer, default=0)
    currency: Mapped[str] = mapped_column(String(3), default="INR")
    registration_number: Mapped[str | None] = mapped_column(String(64))
    tele_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class DoctorSpecialty(Base):
    """A doctor's canonical specialty slug (a table, so that specialty search is indexed)."""

    __tablename__ = "doctor_specialties"
    __table_args__ = (Index("ix_doctor_specialties_specialty", "specialty"),)

    doctor_id: Mapped[int] = mapped_column(ForeignKey("doctors.id", ondelete="CASCADE"), primary_key=True)
    specialty: Mapped[str] = mapped_column(String(64), primary_key=True)


class DoctorBranch(Base):
    __tablename__ = "doctor_branches"

    doctor_id: Mapped[int] = mapped_column(ForeignKey("doctors.id", ondelete="CASCADE"), primary_key=True)
    branch_id: Mapped[int] = mapped_column(ForeignKey("branches.id", ondelete="CASCADE"), primary_key=True)


class AppointmentType(Base):
    __tablename__ = "appointment_types"

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), index=True)
    doctor_id: Mapped[int | None] = mapped_column(ForeignKey("doctors.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(120))
    duration_min: Mapped[int] = mapped_column(Integer)
    mode: Mapped[str] = mapped_column(String(20), default="in_person")   # VisitMode
    prepay_minor: Mapped[int] = mapped_column(Integer, default=0)
    currency: Mapped[str] = mapped_column(String(3), default="INR")
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class Schedule(Base):
    """A weekly working range of a doctor at a branch (local wall-clock times)."""

    __tablename__ = "schedules"
    __table_args__ = (Index("ix_schedules_doctor_branch", "doctor_id", "branch_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    doctor_id: Mapped[int] = mapped_column(ForeignKey("doctors.id", ondelete="CASCADE"))
    branch_id: Mapped[int] = mapped_column(ForeignKey("branches.id", ondelete="CASCADE"))
    weekday: Mapped[int] = mapped_column(Integer)          # 0 = Monday (date.weekday())
    start_time: Mapped[dt.time] = mapped_column(Time)
    end_time: Mapped[dt.time] = mapped_column(Time)
    slot_minutes: Mapped[int] = mapped_column(Integer, default=15)
    valid_from: Mapped[dt.date | None] = mapped_column(Date)
    valid_until: Mapped[dt.date | None] = mapped_column(Date)


class ScheduleBreak(Base):
    """A recurring break inside a weekly range (lunch), local wall-clock times."""

    __tablename__ = "schedule_breaks"

    id: Mapped[int] = mapped_column(primary_key=True)
    doctor_id: Mapped[int] = mapped_column(ForeignKey("doctors.id", ondelete="CASCADE"), index=True)
    branch_id: Mapped[int] = mapped_column(ForeignKey("branches.id", ondelete="CASCADE"))
    weekday: Mapped[int] = mapped_column(Integer)
    start_time: Mapped[dt.time] = mapped_column(Time)
    end_time: Mapped[dt.time] = mapped_column(Time)


class DateAvailability(Base):
    """A per-date override or imported snapshot: when any rows exist for (doctor, branch, day)
    they replace the weekly schedule of that day. A row without times closes the day."""

    __tablename__ = "date_availability"
    __table_args__ = (Index("ix_date_availability_doctor_day", "doctor_id", "day"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    doctor_id: Mapped[int] = mapped_column(ForeignKey("doctors.id", ondelete="CASCADE"))
    branch_id: Mapped[int] = mapped_column(ForeignKey("branches.id", ondelete="CASCADE"))
    day: Mapped[dt.date] = mapped_column(Date)
    start_time: Mapped[dt.time | None] = mapped_column(Time)
    end_time: Mapped[dt.time | None] = mapped_column(Time)
    slot_minutes: Mapped[int] = mapped_column(Integer, default=15)
    source: Mapped[str] = mapped_column(String(20), default="override")   # override | snapshot


class Leave(Base):
    """A doctor's absence (UTC instants; may span days)."""

    __tablename__ = "leaves"
    __table_args__ = (Index("ix_leaves_doctor_start", "doctor_id", "start_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    doctor_id: Mapped[int] = mapped_column(ForeignKey("doctors.id", ondelete="CASCADE"))
    start_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    end_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    reason: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class Holiday(Base):
    """A public holiday (local date) for the whole organization or one branch."""

    __tablename__ = "holidays"
    __table_args__ = (Index("ix_holidays_org_day", "org_id", "day"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    branch_id: Mapped[int | None] = mapped_column(ForeignKey("branches.id", ondelete="CASCADE"))
    day: Mapped[dt.date] = mapped_column(Date)
    name: Mapped[str] = mapped_column(String(200))


class Patient(Base):
    """An account holder (relation "self", keyed by phone / WhatsApp id) or a dependent."""

    __tablename__ = "patients"
    __table_args__ = (
        Index("ix_patients_org_phone", "org_id", "phone"),
        Index("ix_patients_org_whatsapp_id", "org_id", "whatsapp_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    name: Mapped[str | None] = mapped_column(String(200))
    phone: Mapped[str | None] = mapped_column(String(20))          # E.164
    whatsapp_id: Mapped[str | None] = mapped_column(String(64))
    language: Mapped[str | None] = mapped_column(String(8))
    relation: Mapped[str] = mapped_column(String(20), default="self")
    account_holder_id: Mapped[int | None] = mapped_column(
        ForeignKey("patients.id", ondelete="CASCADE"), index=True)
    date_of_birth: Mapped[dt.date | None] = mapped_column(Date)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class Consent(Base):
    """An append-only consent decision; the latest per (patient, channel, purpose) counts."""

    __tablename__ = "consents"
    __table_args__ = (Index("ix_consents_patient", "patient_id", "channel", "purpose"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(20))
    purpose: Mapped[str] = mapped_column(String(20))
    given: Mapped[bool] = mapped_column(Boolean)
    source: Mapped[str] = mapped_column(String(100))
    recorded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class Appointment(Base):
    """A hold (status held + hold_expires_at) or a booking; the id and code survive reschedules."""

    __tablename__ = "appointments"
    __table_args__ = (
        Index("ix_appointments_patient_start", "patient_id", "start_at"),
        Index("ix_appointments_doctor_start", "doctor_id", "start_at"),
        Index("ix_appointments_status_hold", "status", "hold_expires_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(16), unique=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id", ondelete="CASCADE"))
    doctor_id: Mapped[int] = mapped_column(ForeignKey("doctors.id", ondelete="CASCADE"))
    branch_id: Mapped[int] = mapped_column(ForeignKey("branches.id", ondelete="CASCADE"))
    appointment_type_id: Mapped[int] = mapped_column(ForeignKey("appointment_types.id", ondelete="CASCADE"))
    mode: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20))
    start_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    end_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    hold_expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    prepay_minor: Mapped[int] = mapped_column(Integer, default=0)
    currency: Mapped[str] = mapped_column(String(3), default="INR")
    paid: Mapped[bool] = mapped_column(Boolean, default=False)
    needs_reschedule: Mapped[bool] = mapped_column(Boolean, default=False)
    version: Mapped[int] = mapped_column(Integer, default=1)
    cancel_reason: Mapped[str | None] = mapped_column(String(400))
    cancelled_by: Mapped[str | None] = mapped_column(String(20))
    channel: Mapped[str | None] = mapped_column(String(20))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class SlotCell(Base):
    """One occupied 5-minute cell of a doctor's time; the primary key forbids overlaps."""

    __tablename__ = "slot_cells"

    doctor_id: Mapped[int] = mapped_column(ForeignKey("doctors.id", ondelete="CASCADE"), primary_key=True)
    cell_start: Mapped[dt.datetime] = mapped_column(UTCDateTime, primary_key=True)
    appointment_id: Mapped[int] = mapped_column(
        ForeignKey("appointments.id", ondelete="CASCADE"), index=True)


class AppointmentHistory(Base):
    """What an appointment was before each change (reschedules, status changes)."""

    __tablename__ = "appointment_history"

    id: Mapped[int] = mapped_column(primary_key=True)
    appointment_id: Mapped[int] = mapped_column(ForeignKey("appointments.id", ondelete="CASCADE"), index=True)
    version: Mapped[int] = mapped_column(Integer)           # the version this change produced
    action: Mapped[str] = mapped_column(String(40))
    from_status: Mapped[str | None] = mapped_column(String(20))
    to_status: Mapped[str | None] = mapped_column(String(20))
    from_start: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    to_start: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    from_doctor_id: Mapped[int | None] = mapped_column(Integer)
    to_doctor_id: Mapped[int | None] = mapped_column(Integer)
    actor: Mapped[str] = mapped_column(String(20))
    channel: Mapped[str | None] = mapped_column(String(20))
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class Payment(Base):
    """A captured prepayment; the unique reference makes recording it idempotent."""

    __tablename__ = "payments"

    id: Mapped[int] = mapped_column(primary_key=True)
    appointment_id: Mapped[int] = mapped_column(ForeignKey("appointments.id", ondelete="CASCADE"), index=True)
    reference: Mapped[str] = mapped_column(String(120), unique=True)
    amount_minor: Mapped[int] = mapped_column(Integer)
    captured_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class WaitlistEntry(Base):
    """An ASAP request: tell me when something earlier / anything frees up."""

    __tablename__ = "waitlist_entries"
    __table_args__ = (Index("ix_waitlist_entries_status_doctor", "status", "doctor_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id", ondelete="CASCADE"), index=True)
    doctor_id: Mapped[int | None] = mapped_column(ForeignKey("doctors.id", ondelete="CASCADE"))
    specialty: Mapped[str | None] = mapped_column(String(64))
    branch_id: Mapped[int | None] = mapped_column(ForeignKey("branches.id", ondelete="CASCADE"))
    earliest: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    latest: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    appointment_id: Mapped[int | None] = mapped_column(ForeignKey("appointments.id", ondelete="SET NULL"))
    status: Mapped[str] = mapped_column(String(20), default="active")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class AuditLog(Base):
    """Who changed what, when, from which channel (written in the changing transaction)."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_entity", "entity", "entity_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int | None] = mapped_column(Integer)
    entity: Mapped[str] = mapped_column(String(40))
    entity_id: Mapped[int] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(60))
    actor: Mapped[str] = mapped_column(String(20))
    channel: Mapped[str | None] = mapped_column(String(20))
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)   # ids and codes, no PHI
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class Event(Base):
    """The transactional outbox: domain events for workers and integrations to consume."""

    __tablename__ = "events"
    __table_args__ = (Index("ix_events_processed_id", "processed_at", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int | None] = mapped_column(Integer)
    type: Mapped[str] = mapped_column(String(60))           # e.g. "appointment.created"
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    processed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


__all__ = [
    "CELL_MINUTES", "Appointment", "AppointmentHistory", "AppointmentType", "AuditLog", "Branch",
    "ChannelAccount", "Consent", "DateAvailability", "Doctor", "DoctorBranch", "DoctorSpecialty",
    "Event", "Holiday", "Leave", "Organization", "Patient", "Payment", "Schedule", "ScheduleBreak",
    "SlotCell", "WaitlistEntry",
]
