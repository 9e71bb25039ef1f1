"""Plain, frozen views the booking core hands out (never ORM rows).

Flows, workers and the web edge all work with these; ids are internal and are never
shown to patients (they see `AppointmentView.code`, e.g. `MM-7KQ2X`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum


class AppointmentStatus(StrEnum):
    HELD = "held"                        # a hold: occupies the slot until hold_expires_at
    PENDING_PAYMENT = "pending_payment"
    CONFIRMED = "confirmed"
    COMPLETED = "completed"
    NO_SHOW = "no_show"
    CANCELLED = "cancelled"
    EXPIRED = "expired"                  # a hold that lapsed


class VisitMode(StrEnum):
    IN_PERSON = "in_person"
    TELE = "tele"


class PartOfDay(StrEnum):
    MORNING = "morning"        # before 12:00 local
    AFTERNOON = "afternoon"    # 12:00–17:00
    EVENING = "evening"        # from 17:00


class Actor(StrEnum):
    PATIENT = "patient"
    STAFF = "staff"
    SYSTEM = "system"


@dataclass(frozen=True, slots=True)
class OrganizationView:
    id: int
    name: str
    slug: str


@dataclass(frozen=True, slots=True)
class BranchView:
    id: int
    org_id: int
    name: str
    city: str
    address: str
    latitude: float | None
    longitude: float | None
    timezone: str              # IANA, e.g. Asia/Kolkata
    language: str              # default patient language, e.g. "en"
    country: str               # ISO 3166 alpha-2, e.g. "IN" (formatting locale = language_country)
    currency: str              # ISO 4217, e.g. "INR"
    phone: str | None = None
    map_url: str | None = None


@dataclass(frozen=True, slots=True)
class DoctorView:
    id: int
    org_id: int
    title: str                 # "Dr."
    first_name: str
    last_name: str
    specialties: tuple[str, ...]   # canonical specialty slugs, e.g. ("dermatology",)
    languages: tuple[str, ...]     # ISO 639-1 codes, e.g. ("en", "hi")
    fee_minor: int
    currency: str
    tele_enabled: bool
    branch_ids: tuple[int, ...]

    @property
    def display_name(self) -> str:
        return f"{self.title} {self.first_name} {self.last_name}".strip()


@dataclass(frozen=True, slots=True)
class AppointmentTypeView:
    id: int
    name: str
    duration_min: int
    mode: VisitMode
    prepay_minor: int          # 0 = no prepayment
    currency: str
    doctor_id: int | None      # None = offered by every doctor of the organization


@dataclass(frozen=True, slots=True)
class SlotView:
    doctor_id: int
    branch_id: int
    start: dt.datetime         # aware UTC
    end: dt.datetime           # aware UTC
    timezone: str              # the branch's zone, for display


@dataclass(frozen=True, slots=True)
class PatientView:
    id: int
    org_id: int
    name: str | None
    phone: str | None          # E.164
    whatsapp_id: str | None    # BSUID (or wa_id when no BSUID was given)
    language: str | None
    relation: str              # "self" for the account holder; "child", "parent", "spouse", "other"
    account_holder_id: int | None   # set on dependents: the patient whose phone they share
    date_of_birth: dt.date | None = None

    @property
    def first_name(self) -> str | None:
        return self.name.split()[0] if self.name else None


@dataclass(frozen=True, slots=True)
class AppointmentView:
    id: int
    code: str                  # opaque booking code shown to patients, e.g. "MM-7KQ2X"
    org_id: int
    status: AppointmentStatus
    patient_id: int
    patient_name: str | None
    doctor_id: int
    doctor_name: str
    branch_id: int
    branch_name: str
    appointment_type_id: int
    appointment_type_name: str
    mode: VisitMode
    start: dt.datetime         # aware UTC
    end: dt.datetime
    timezone: str
    prepay_minor: int
    currency: str
    paid: bool
    hold_expires_at: dt.datetime | None
    needs_reschedule: bool
    version: int               # bumps on every change (reschedule, status); job ids include it


@dataclass(frozen=True, slots=True)
class WaitlistView:
    id: int
    org_id: int
    patient_id: int
    status: str                # active | offered | fulfilled | left | expired
    doctor_id: int | None
    specialty: str | None
    branch_id: int | None
    earliest: dt.datetime | None
    latest: dt.datetime | None
    appointment_id: int | None  # the appointment they would move from, if any


@dataclass(frozen=True, slots=True)
class EventView:
    """One row of the event outbox (e.g. type "appointment.created", payload of ids/codes)."""

    id: int
    org_id: int | None
    type: str
    payload: dict[str, object]
    created_at: dt.datetime
