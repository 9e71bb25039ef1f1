"""The ports through which flows reach the rest of the system.

`bot/` implements them and injects them; flows import only these Protocols and the
plain data types of the booking core. Every method is one transaction on the other
side: when it raises a `bot.booking.errors.BookingError`, nothing was written.
"""

from __future__ import annotations

import datetime as dt
from typing import Protocol

from bot.booking.types import (
    Actor,
    AppointmentTypeView,
    AppointmentView,
    BranchView,
    DoctorView,
    PartOfDay,
    PatientView,
    SlotView,
    WaitlistView,
)


class BookingPort(Protocol):
    """What a conversation may ask of the booking core (implemented by `bot.booking.service.BookingService`)."""

    # --- directory --------------------------------------------------------------
    async def list_branches(self, org_id: int) -> list[BranchView]: ...

    async def nearest_branches(
        self, org_id: int, *, latitude: float | None = None, longitude: float | None = None,
        place: str | None = None, limit: int = 3,
    ) -> list[BranchView]:
        """Branches ordered by distance from a point, or matching a city/area name (fuzzy)."""
        ...

    async def list_specialties(self, org_id: int) -> list[str]:
        """Canonical specialty slugs offered by the organization, e.g. ["cardiology", …]."""
        ...

    async def search_doctors(
        self, org_id: int, *, query: str | None = None, specialty: str | None = None,
        language: str | None = None, branch_id: int | None = None, tele: bool | None = None,
        limit: int = 10,
    ) -> list[DoctorView]:
        """Doctors matching all given filters; `query` is fuzzy over names and specialties
        ("dr mehta", "skin doc"), best match first."""
        ...

    async def get_doctor(self, doctor_id: int) -> DoctorView: ...

    async def appointment_types(self, org_id: int, doctor_id: int) -> list[AppointmentTypeView]: ...

    # --- availability -----------------------------------------------------------
    async def free_slots(
        self, org_id: int, *, doctor_id: int | None = None, specialty: str | None = None,
        branch_id: int | None = None, appointment_type_id: int | None = None,
        day: dt.date | None = None, after: dt.datetime | None = None,
        part_of_day: PartOfDay | None = None, limit: int = 10, offset: int = 0,
    ) -> list[SlotView]:
        """Free, bookable slots in time order. `day` is a local date in the branch's zone;
        past slots, leave, holidays and slots outside the booking window never appear."""
        ...

    # --- patients ---------------------------------------------------------------
    async def find_or_create_patient(
        self, org_id: int, *, phone: str | None = None, whatsapp_id: str | None = None,
        name: str | None = None, language: str | None = None,
    ) -> PatientView:
        """The account holder for this phone / WhatsApp id (created on first contact)."""
        ...

    async def update_patient(
        self, patient_id: int, *, name: str | None = None, language: str | None = None,
    ) -> PatientView: ...

    async def dependents(self, patient_id: int) -> list[PatientView]: ...

    async def add_dependent(
        self, patient_id: int, *, name: str, relation: str, date_of_birth: dt.date | None = None,
    ) -> PatientView: ...

    # --- booking ----------------------------------------------------------------
    async def hold(
        self, org_id: int, *, patient_id: int, doctor_id: int, branch_id: int,
        appointment_type_id: int, start: dt.datetime, actor: Actor = Actor.PATIENT,
        channel: str | None = None, replacing_hold: int | None = None,
    ) -> AppointmentView:
        """Hold a slot for a few minutes (status HELD). Raises SlotUnavailable, OutsidePolicy,
        TooManyHolds, InvalidInput, NotFound. `replacing_hold` (a hold on that slot) is
        released in the same transaction."""
        ...

    async def confirm(
        self, appointment_id: int, *, actor: Actor = Actor.PATIENT, channel: str | None = None,
    ) -> AppointmentView:
        """Turn a live hold into PENDING_PAYMENT (prepay > 0) or CONFIRMED. Raises HoldExpired."""
        ...

    async def record_payment(
        self, appointment_id: int, *, reference: str, amount_minor: int,
        actor: Actor = Actor.SYSTEM, channel: str | None = None,
    ) -> AppointmentView:
        """A captured prepayment: PENDING_PAYMENT → CONFIRMED (idempotent per reference)."""
        ...

    async def reschedule(
        self, appointment_id: int, *, start: dt.datetime, doctor_id: int | None = None,
        actor: Actor = Actor.PATIENT, channel: str | None = None, replacing_hold: int | None = None,
    ) -> AppointmentView:
        """Move an appointment, keeping its id and code; the old slot is freed, history kept.
        `replacing_hold` (a hold on the new slot) is released in the same transaction."""
        ...

    async def cancel(
        self, appointment_id: int, *, reason: str, actor: Actor = Actor.PATIENT,
        channel: str | None = None,
    ) -> AppointmentView:
        """Cancel (or release a hold). Raises OutsidePolicy inside the branch's no-cancel window."""
        ...

    async def get_appointment(self, appointment_id: int) -> AppointmentView: ...

    async def find_appointment_by_code(self, org_id: int, code: str) -> AppointmentView: ...

    async def appointments_for(
        self, patient_id: int, *, upcoming: bool = True, include_dependents: bool = True,
        limit: int = 10,
    ) -> list[AppointmentView]: ...

    async def get_branch(self, branch_id: int) -> BranchView: ...

    # --- consent (messages by channel and purpose; opt-out honoured everywhere) --
    async def record_consent(
        self, patient_id: int, *, channel: str, purpose: str, given: bool, source: str,
    ) -> None:
        """Append a consent record (purpose: "service" | "marketing"; source: e.g. "chat:STOP")."""
        ...

    async def has_consent(self, patient_id: int, *, channel: str, purpose: str) -> bool | None:
        """The latest decision for (channel, purpose): True, False, or None when never asked."""
        ...

    # --- ASAP list --------------------------------------------------------------
    async def join_waitlist(
        self, org_id: int, *, patient_id: int, doctor_id: int | None = None,
        specialty: str | None = None, branch_id: int | None = None,
        earliest: dt.datetime | None = None, latest: dt.datetime | None = None,
        appointment_id: int | None = None, channel: str | None = None,
    ) -> WaitlistView: ...

    async def leave_waitlist(self, waitlist_id: int, *, channel: str | None = None) -> WaitlistView: ...

    async def waitlist_for(self, patient_id: int) -> list[WaitlistView]: ...

    async def earlier_slot_for(self, appointment_id: int) -> SlotView | None:
        """The first free slot with the same doctor before this appointment, if any."""
        ...


class PaymentPort(Protocol):
    """Prepayment: create a UPI/gateway link for an appointment; capture arrives later."""

    async def payment_link(self, appointment: AppointmentView) -> tuple[str, str]:
        """Return (url, reference) for paying `appointment.prepay_minor`."""
        ...
