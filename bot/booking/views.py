"""ORM rows → frozen views (the only shapes that leave the booking core)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.booking import models as m
from bot.booking.types import (
    AppointmentStatus,
    AppointmentTypeView,
    AppointmentView,
    BranchView,
    DoctorView,
    EventView,
    OrganizationView,
    PatientView,
    VisitMode,
    WaitlistView,
)


def organization_view(row: m.Organization) -> OrganizationView:
    return OrganizationView(id=row.id, name=row.name, slug=row.slug)


def branch_view(row: m.Branch) -> BranchView:
    return BranchView(
        id=row.id, org_id=row.org_id, name=row.name, city=row.city, address=row.address,
        latitude=row.latitude, longitude=row.longitude, timezone=row.timezone, language=row.language,
        country=row.country, currency=row.currency, phone=row.phone, map_url=row.map_url,
    )


async def doctor_views(session: AsyncSession, rows: list[m.Doctor]) -> list[DoctorView]:
    """Views for many doctors with two queries (specialties, branches)."""
    ids = [r.id for r in rows]
    specs: dict[int, list[str]] = {i: [] for i in ids}
    branches: dict[int, list[int]] = {i: [] for i in ids}
    if ids:
        for doc_id, spec in await session.execute(
            select(m.DoctorSpecialty.doctor_id, m.DoctorSpecialty.specialty)
            .where(m.DoctorSpecialty.doctor_id.in_(ids)).order_by(m.DoctorSpecialty.specialty)
        ):
            specs[doc_id].append(spec)
        for doc_id, branch_id in await session.execute(
            select(m.DoctorBranch.doctor_id, m.DoctorBranch.branch_id)
            .where(m.DoctorBranch.doctor_id.in_(ids)).order_by(m.DoctorBranch.branch_id)
        ):
            branches[doc_id].append(branch_id)
    return [
        DoctorView(
            id=r.id, org_id=r.org_id, title=r.title, first_name=r.first_name, last_name=r.last_name,
            specialties=tuple(specs[r.id]), languages=tuple(r.languages or ()), fee_minor=r.fee_minor,
            currency=r.currency, tele_enabled=r.tele_enabled, branch_ids=tuple(branches[r.id]),
        )
        for r in rows
    ]


def appointment_type_view(row: m.AppointmentType) -> AppointmentTypeView:
    return AppointmentTypeView(
        id=row.id, name=row.name, duration_min=row.duration_min, mode=VisitMode(row.mode),
        prepay_minor=row.prepay_minor, currency=row.currency, doctor_id=row.doctor_id,
    )


def patient_view(row: m.Patient) -> PatientView:
    return PatientView(
        id=row.id, org_id=row.org_id, name=row.name, phone=row.phone, whatsapp_id=row.whatsapp_id,
        language=row.language, relation=row.relation, account_holder_id=row.account_holder_id,
        date_of_birth=row.date_of_birth,
    )


async def appointment_view(session: AsyncSession, row: m.Appointment) -> AppointmentView:
    """The view of one appointment (names of the related rows in one joined query)."""
    patient_name, title, first, last, branch_name, timezone, type_name = (await session.execute(
        select(m.Patient.name, m.Doctor.title, m.Doctor.first_name, m.Doctor.last_name, m.Branch.name,
               m.Branch.timezone, m.AppointmentType.name)
        .select_from(m.Patient)
        .join(m.Doctor, m.Doctor.id == row.doctor_id)
        .join(m.Branch, m.Branch.id == row.branch_id)
        .join(m.AppointmentType, m.AppointmentType.id == row.appointment_type_id)
        .where(m.Patient.id == row.patient_id)
    )).one()
    return _appointment_view(row, patient_name, f"{title} {first} {last}".strip(), branch_name, timezone, type_name)


def appointment_view_of(row: m.Appointment, patient: m.Patient, doctor: m.Doctor, branch: m.Branch,
                        atype: m.AppointmentType) -> AppointmentView:
    """The view of one appointment from its related rows already loaded (no query)."""
    return _appointment_view(row, patient.name, f"{doctor.title} {doctor.first_name} {doctor.last_name}".strip(),
                             branch.name, branch.timezone, atype.name)


def _appointment_view(row: m.Appointment, patient_name: str | None, doctor_name: str, branch_name: str,
                      timezone: str, type_name: str) -> AppointmentView:
    return AppointmentView(
        id=row.id, code=row.code, org_id=row.org_id, status=AppointmentStatus(row.status),
        patient_id=row.patient_id, patient_name=patient_name, doctor_id=row.doctor_id, doctor_name=doctor_name,
        branch_id=row.branch_id, branch_name=branch_name, appointment_type_id=row.appointment_type_id,
        appointment_type_name=type_name, mode=VisitMode(row.mode), start=row.start_at, end=row.end_at,
        timezone=timezone, prepay_minor=row.prepay_minor, currency=row.currency, paid=row.paid,
        hold_expires_at=row.hold_expires_at, needs_reschedule=row.needs_reschedule, version=row.version,
    )


def waitlist_view(row: m.WaitlistEntry) -> WaitlistView:
    return WaitlistView(
        id=row.id, org_id=row.org_id, patient_id=row.patient_id, status=row.status,
        doctor_id=row.doctor_id, specialty=row.specialty, branch_id=row.branch_id,
        earliest=row.earliest, latest=row.latest, appointment_id=row.appointment_id,
    )


def event_view(row: m.Event) -> EventView:
    return EventView(id=row.id, org_id=row.org_id, type=row.type, payload=dict(row.payload or {}),
                     created_at=row.created_at)
