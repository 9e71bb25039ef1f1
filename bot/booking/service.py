"""The booking core's service: every public method is one transaction.

Channel-blind and typed: callers get frozen views (`bot.booking.types`) and typed errors
(`bot.booking.errors`). When an error is raised the transaction is rolled back, so
nothing is written. Every change writes its audit row and outbox event in the same
transaction as the change itself.

Double booking is impossible because each live appointment owns its 5-minute
`slot_cells` rows, whose primary key (doctor_id, cell_start) the database enforces.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any

from rapidfuzz import fuzz
from sqlalchemy import delete, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.booking import models as m
from bot.booking.availability import Availability, Candidate, live_statuses
from bot.booking.directory import DEFAULT_TTL_SECONDS, DirectoryCache
from bot.booking.errors import (
    HoldExpired,
    InvalidInput,
    InvalidTransition,
    NotFound,
    OutsidePolicy,
    SlotUnavailable,
    TooManyHolds,
)
from bot.booking.identity import new_booking_code, normalize_code, normalize_phone
from bot.booking.slots import cells_for, local_day_bounds, zone
from bot.booking.types import (
    Actor,
    AppointmentStatus,
    AppointmentTypeView,
    AppointmentView,
    BranchView,
    DoctorView,
    EventView,
    OrganizationView,
    PartOfDay,
    PatientView,
    SlotView,
    VisitMode,
    WaitlistView,
)
from bot.booking.views import (
    appointment_type_view,
    appointment_view,
    appointment_view_of,
    branch_view,
    doctor_views,
    event_view,
    organization_view,
    patient_view,
    waitlist_view,
)
from bot.db import READ_ONLY, utcnow

log = logging.getLogger(__name__)

HELD = AppointmentStatus.HELD.value
PENDING = AppointmentStatus.PENDING_PAYMENT.value
CONFIRMED = AppointmentStatus.CONFIRMED.value
CANCELLED = AppointmentStatus.CANCELLED.value
EXPIRED = AppointmentStatus.EXPIRED.value

RELATIONS = frozenset({"child", "parent", "spouse", "sibling", "other"})
CONSENT_PURPOSES = frozenset({"service", "marketing"})
WAITLIST_OPEN = ("active", "offered")
# Everyday words patients use for specialties ("skin doc"), matched fuzzily as well as the slugs.
SPECIALTY_WORDS: dict[str, tuple[str, ...]] = {
    "general_medicine": ("general physician", "gp", "fever", "family doctor", "general medicine"),
    "dermatology": ("skin", "skin doctor", "dermatologist", "hair"),
    "pediatrics": ("child", "children", "kids", "baby", "pediatrician", "paediatrics"),
    "cardiology": ("heart", "cardiologist", "bp"),
    "gynecology": ("women", "pregnancy", "gynaecologist", "gynecologist", "obgyn"),
    "orthopedics": ("bone", "bones", "joint", "knee", "back pain", "orthopaedic"),
    "ent": ("ear", "nose", "throat", "ear nose throat"),
    "dentistry": ("teeth", "tooth", "dental", "dentist"),
    "ophthalmology": ("eye", "eyes", "vision"),
    "psychiatry": ("mind", "mental health", "anxiety"),
}
FUZZY_CUTOFF = 70.0
_SEARCH_CHUNK_DAYS = 7


def _aware(value: dt.datetime, name: str) -> dt.datetime:
    if value.tzinfo is None:
        raise InvalidInput(f"{name} must carry a time zone", field=name)
    return value.astimezone(dt.timezone.utc)


async def latest_consent(session: AsyncSession, patient_id: int, *, channel: str, purpose: str) -> bool | None:
    """The patient's latest consent answer for (channel, purpose) in the caller's session (None: never asked)."""
    return await session.scalar(
        select(m.Consent.given).where(m.Consent.patient_id == patient_id, m.Consent.channel == channel,
                                      m.Consent.purpose == purpose)
        .order_by(m.Consent.recorded_at.desc(), m.Consent.id.desc()).limit(1)
    )


async def latest_consents(
    session: AsyncSession, patient_ids: Iterable[int], *, purpose: str
) -> dict[tuple[int, str], bool]:
    """`latest_consent` for many patients at once: (patient id, channel) → latest answer
    for `purpose` (pairs never asked are absent). One query, for batch senders."""
    ids = sorted(set(patient_ids))
    if not ids:
        return {}
    rows = await session.execute(
        select(m.Consent.patient_id, m.Consent.channel, m.Consent.given)
        .where(m.Consent.patient_id.in_(ids), m.Consent.purpose == purpose)
        .order_by(m.Consent.recorded_at.desc(), m.Consent.id.desc())
    )
    latest: dict[tuple[int, str], bool] = {}
    for patient_id, channel, given in rows:
        latest.setdefault((patient_id, channel), bool(given))
    return latest


class BookingService:
    """Implements `flows.ports.BookingPort` plus the operations workers and staff need."""

    def __init__(
        self, sessionmaker: async_sessionmaker[AsyncSession], *, clock: Callable[[], dt.datetime] = utcnow,
        hold_minutes: int = 10, max_live_holds: int = 3, directory_ttl: float = DEFAULT_TTL_SECONDS,
    ) -> None:
        """`directory_ttl`: seconds a search may reuse branches, doctors and weekly schedules (0: never)."""
        self._sessionmaker = sessionmaker
        self._clock = clock
        self.hold_minutes = hold_minutes
        self.max_live_holds = max_live_holds
        # The search's static data, reused for a few seconds; booking never relies on it.
        self._directory = DirectoryCache(directory_ttl)

    def invalidate_directory(self, org_id: int | None = None) -> None:
        """Drop cached directory data (call after changing branches, doctors or schedules in-process)."""
        self._directory.invalidate(org_id)

    # --- plumbing -------------------------------------------------------------------
    @asynccontextmanager
    async def _tx(self) -> AsyncIterator[AsyncSession]:
        """One transaction; an exception rolls everything back."""
        async with self._sessionmaker() as session, session.begin():
            yield session

    @asynccontextmanager
    async def _read(self) -> AsyncIterator[AsyncSession]:
        """One read-only transaction (on SQLite: no write lock, so it never waits for writers)."""
        async with self._sessionmaker() as session, session.begin():
            await session.connection(execution_options={READ_ONLY: True})
            yield session

    def _now(self) -> dt.datetime:
        return _aware(self._clock(), "clock")

    @staticmethod
    def _record(
        session: AsyncSession, *, org_id: int | None, entity: str, entity_id: int, action: str,
        actor: Actor | str, channel: str | None, data: dict[str, Any] | None = None,
        event: str | None = None, payload: dict[str, Any] | None = None, at: dt.datetime,
    ) -> None:
        """Audit row (and outbox event) in the caller's transaction. Ids and codes only, no PHI."""
        session.add(m.AuditLog(org_id=org_id, entity=entity, entity_id=entity_id, action=action,
                               actor=str(actor), channel=channel, data=data or {}, at=at))
        if event:
            session.add(m.Event(org_id=org_id, type=event, payload=payload or data or {}, created_at=at))

    @staticmethod
    def _appt_payload(appt: m.Appointment, **extra: Any) -> dict[str, Any]:
        return {
            "appointment_id": appt.id, "code": appt.code, "version": appt.version, "status": appt.status,
            "patient_id": appt.patient_id, "doctor_id": appt.doctor_id, "branch_id": appt.branch_id,
            "start": appt.start_at.isoformat(), **extra,
        }

    def _history(self, session: AsyncSession, appt: m.Appointment, *, action: str, from_status: str | None,
                 from_start: dt.datetime | None, from_doctor_id: int | None, actor: Actor | str,
                 channel: str | None, now: dt.datetime) -> None:
        session.add(m.AppointmentHistory(
            appointment_id=appt.id, version=appt.version, action=action, from_status=from_status,
            to_status=appt.status, from_start=from_start, to_start=appt.start_at, from_doctor_id=from_doctor_id,
            to_doctor_id=appt.doctor_id, actor=str(actor), channel=channel, at=now,
        ))

    @staticmethod
    async def _get(session: AsyncSession, model: type[Any], ident: int, what: str, *,
                   lock: bool = False) -> Any:
        if lock:
            row = await session.scalar(select(model).where(model.id == ident).with_for_update())
        else:
            row = await session.get(model, ident)
        if row is None:
            raise NotFound(f"{what} not found", **{f"{what}_id": ident})
        return row

    async def _doctor_and_branch(self, s: AsyncSession, doctor_id: int, branch_id: int) -> tuple[m.Doctor, m.Branch]:
        """A doctor and a branch of the same organization (else NotFound)."""
        doctor = await self._get(s, m.Doctor, doctor_id, "doctor")
        branch = await self._get(s, m.Branch, branch_id, "branch")
        if branch.org_id != doctor.org_id:
            raise NotFound("branch not found", branch_id=branch_id)
        return doctor, branch

    async def _org(self, session: AsyncSession, org_id: int) -> m.Organization:
        return await self._get(session, m.Organization, org_id, "organization")

    # --- tenancy --------------------------------------------------------------------
    async def org_for_channel_account(self, channel: str, address: str) -> OrganizationView | None:
        """The organization that owns a provider address (WhatsApp phone_number_id, SMS number)."""
        async with self._read() as s:
            org = await s.scalar(
                select(m.Organization).join(m.ChannelAccount, m.ChannelAccount.org_id == m.Organization.id)
                .where(m.ChannelAccount.channel == channel, m.ChannelAccount.address == address)
            )
            return organization_view(org) if org else None

    # --- directory ------------------------------------------------------------------
    async def list_branches(self, org_id: int) -> list[BranchView]:
        async with self._read() as s:
            await self._org(s, org_id)
            rows = await s.scalars(select(m.Branch).where(m.Branch.org_id == org_id).order_by(m.Branch.id))
            return [branch_view(b) for b in rows]

    async def get_branch(self, branch_id: int) -> BranchView:
        async with self._read() as s:
            return branch_view(await self._get(s, m.Branch, branch_id, "branch"))

    async def nearest_branches(
        self, org_id: int, *, latitude: float | None = None, longitude: float | None = None,
        place: str | None = None, limit: int = 3,
    ) -> list[BranchView]:
        """Branches by distance from a point, or by fuzzy match of a city/area name."""
        branches = await self.list_branches(org_id)
        if latitude is not None and longitude is not None:
            located = [b for b in branches if b.latitude is not None and b.longitude is not None]
            located.sort(key=lambda b: _haversine_km(latitude, longitude, b.latitude or 0.0, b.longitude or 0.0))
            return located[:limit]
        if place:
            needle = place.strip().lower()
            scored = [
                (max(fuzz.WRatio(needle, b.city.lower()), fuzz.partial_ratio(needle, b.name.lower()),
                     fuzz.partial_ratio(needle, b.address.lower())), b)
                for b in branches
            ]
            return [b for score, b in sorted(scored, key=lambda x: -x[0]) if score >= FUZZY_CUTOFF][:limit]
        return branches[:limit]

    async def list_specialties(self, org_id: int) -> list[str]:
        async with self._read() as s:
            rows = await s.scalars(
                select(m.DoctorSpecialty.specialty).join(m.Doctor, m.Doctor.id == m.DoctorSpecialty.doctor_id)
                .where(m.Doctor.org_id == org_id, m.Doctor.active.is_(True))
                .distinct().order_by(m.DoctorSpecialty.specialty)
            )
            return list(rows)

    async def search_doctors(
        self, org_id: int, *, query: str | None = None, specialty: str | None = None,
        language: str | None = None, branch_id: int | None = None, tele: bool | None = None,
        limit: int = 10,
    ) -> list[DoctorView]:
        """Doctors matching every filter; `query` is fuzzy over names and specialties, best first."""
        async with self._read() as s:
            stmt = select(m.Doctor).where(m.Doctor.org_id == org_id, m.Doctor.active.is_(True))
            if specialty:
                stmt = stmt.where(m.Doctor.id.in_(
                    select(m.DoctorSpecialty.doctor_id).where(m.DoctorSpecialty.specialty == specialty)))
            if branch_id is not None:
                stmt = stmt.where(m.Doctor.id.in_(
                    select(m.DoctorBranch.doctor_id).where(m.DoctorBranch.branch_id == branch_id)))
            if tele is not None:
                stmt = stmt.where(m.Doctor.tele_enabled.is_(tele))
            rows = list(await s.scalars(stmt.order_by(m.Doctor.id)))
            if language:
                rows = [r for r in rows if language in (r.languages or [])]
            views = await doctor_views(s, rows)
        if not query:
            return views[:limit]
        scored = [(score, v) for v in views if (score := _doctor_score(query, v)) >= FUZZY_CUTOFF]
        scored.sort(key=lambda x: (-x[0], x[1].id))
        return [v for _score, v in scored][:limit]

    async def get_doctor(self, doctor_id: int) -> DoctorView:
        async with self._read() as s:
            doctor = await self._get(s, m.Doctor, doctor_id, "doctor")
            return (await doctor_views(s, [doctor]))[0]

    async def appointment_types(self, org_id: int, doctor_id: int) -> list[AppointmentTypeView]:
        async with self._read() as s:
            doctor = await self._get(s, m.Doctor, doctor_id, "doctor")
            if doctor.org_id != org_id:
                raise NotFound("doctor not found", doctor_id=doctor_id)
            rows = await s.scalars(
                select(m.AppointmentType).where(
                    m.AppointmentType.org_id == org_id, m.AppointmentType.active.is_(True),
                    (m.AppointmentType.doctor_id.is_(None)) | (m.AppointmentType.doctor_id == doctor_id),
                ).order_by(m.AppointmentType.id)
            )
            return [appointment_type_view(t) for t in rows
                    if doctor.tele_enabled or t.mode != VisitMode.TELE.value]

    # --- availability ---------------------------------------------------------------
    async def free_slots(
        self, org_id: int, *, doctor_id: int | None = None, specialty: str | None = None,
        branch_id: int | None = None, appointment_type_id: int | None = None,
        day: dt.date | None = None, after: dt.datetime | None = None,
        part_of_day: PartOfDay | None = None, limit: int = 10, offset: int = 0,
    ) -> list[SlotView]:
        """Free, bookable slots in time order (see `flows.ports.BookingPort.free_slots`)."""
        if limit < 0 or offset < 0:
            raise InvalidInput("limit and offset must not be negative")
        now = self._now()
        after = _aware(after, "after") if after is not None else None
        async with self._read() as s:
            found = await self._search(s, org_id, now=now, doctor_id=doctor_id, specialty=specialty,
                                       branch_id=branch_id, appointment_type_id=appointment_type_id, day=day,
                                       after=after, part=part_of_day, want=offset + limit)
        return [SlotView(c.doctor_id, c.branch_id, c.start, c.end, c.timezone) for c in found[offset:offset + limit]]

    async def _search(
        self, s: AsyncSession, org_id: int, *, now: dt.datetime, doctor_id: int | None, specialty: str | None,
        branch_id: int | None, appointment_type_id: int | None, day: dt.date | None, after: dt.datetime | None,
        part: PartOfDay | None, want: int, ignore_appointment_id: int | None = None,
    ) -> list[Candidate]:
        directory = await self._directory.get(s, org_id)
        branches = directory.branches
        duration: int | None = None
        tele_only = False
        if appointment_type_id is not None:
            atype = await self._get(s, m.AppointmentType, appointment_type_id, "appointment_type")
            if atype.org_id != org_id:
                raise NotFound("appointment type not found", appointment_type_id=appointment_type_id)
            duration = atype.duration_min
            tele_only = atype.mode == VisitMode.TELE.value
            if atype.doctor_id is not None:
                if doctor_id is not None and doctor_id != atype.doctor_id:
                    return []
                doctor_id = atype.doctor_id
        pairs = directory.pairs(doctor_id=doctor_id, branch_id=branch_id, specialty=specialty, tele_only=tele_only)
        if not pairs:
            return []
        not_before = {b: max(now + dt.timedelta(minutes=br.lead_time_min), after or now)
                      for b, br in branches.items()}
        not_after = {b: now + dt.timedelta(days=br.horizon_days) for b, br in branches.items()}
        weekly, breaks = await directory.schedules(s, sorted({d for d, _ in pairs}))
        avail = Availability(s, pairs, branches, weekly=weekly, breaks=breaks)

        if day is not None:
            # Slots are generated per local day in each branch's zone, so all of them are on `day`.
            return await avail.candidates(day, day, duration, now=now, not_before=not_before, not_after=not_after,
                                          ignore_appointment_id=ignore_appointment_id, limit=want, part=part)
        used_branches = {b for _, b in pairs}
        first = min(not_before[b].astimezone(zone(branches[b].timezone)).date() for b in used_branches)
        last = max(not_after[b].astimezone(zone(branches[b].timezone)).date() for b in used_branches)
        out: list[Candidate] = []
        cursor = first
        while cursor <= last and len(out) < want:
            chunk_end = min(cursor + dt.timedelta(days=_SEARCH_CHUNK_DAYS - 1), last)
            found = await avail.candidates(cursor, chunk_end, duration, now=now, not_before=not_before,
                                           not_after=not_after, ignore_appointment_id=ignore_appointment_id,
                                           limit=want - len(out), part=part)
            out.extend(found)  # chunks are disjoint local days, so no slot comes twice
            cursor = chunk_end + dt.timedelta(days=1)
        out.sort(key=lambda c: (c.start, c.doctor_id, c.branch_id))
        return out

    async def _check_offered(
        self, s: AsyncSession, *, branch: m.Branch, doctor: m.Doctor, duration: int, start: dt.datetime,
        now: dt.datetime, ignore_appointment_id: int | None = None,
    ) -> dt.datetime:
        """Validate that `start` is an offered slot (window, schedule, leave, holiday); returns its end."""
        if start <= now:
            raise InvalidInput("that time has passed", field="start")
        if start < now + dt.timedelta(minutes=branch.lead_time_min):
            raise OutsidePolicy("too close to book", rule="lead_time", minutes=branch.lead_time_min)
        if start > now + dt.timedelta(days=branch.horizon_days):
            raise OutsidePolicy("too far ahead to book", rule="horizon", days=branch.horizon_days)
        local_day = start.astimezone(zone(branch.timezone)).date()
        avail = Availability(s, [(doctor.id, branch.id)], {branch.id: branch})
        window = {branch.id: now}
        horizon = {branch.id: now + dt.timedelta(days=branch.horizon_days)}
        offered = await avail.candidates(local_day, local_day, duration, now=now, not_before=window,
                                         not_after=horizon, free_only=False)
        for c in offered:
            if c.start == start:
                return c.end
        raise SlotUnavailable("that time is not offered", doctor_id=doctor.id, start=start.isoformat())

    async def _claim_cells(self, s: AsyncSession, appt: m.Appointment, now: dt.datetime) -> None:
        """Occupy the appointment's cells; the primary key turns any overlap into SlotUnavailable.

        Holds that lapsed but were not swept yet are expired here first, in this transaction,
        so that a dead hold never blocks a slot.
        """
        lapsed = list(await s.scalars(
            select(m.Appointment).where(
                m.Appointment.doctor_id == appt.doctor_id, m.Appointment.status == HELD,
                m.Appointment.hold_expires_at <= now, m.Appointment.start_at < appt.end_at,
                m.Appointment.end_at > appt.start_at, m.Appointment.id != appt.id,
            ).with_for_update()
        ))
        for old in lapsed:
            await self._expire(s, old, now)
        rows = [{"doctor_id": appt.doctor_id, "cell_start": c, "appointment_id": appt.id}
                for c in cells_for(appt.start_at, appt.end_at)]
        try:
            await s.execute(insert(m.SlotCell), rows)
        except IntegrityError as exc:
            raise SlotUnavailable("that time was just taken", doctor_id=appt.doctor_id,
                                  start=appt.start_at.isoformat()) from exc

    async def _expire(self, s: AsyncSession, appt: m.Appointment, now: dt.datetime) -> None:
        await s.execute(delete(m.SlotCell).where(m.SlotCell.appointment_id == appt.id))
        appt.status = EXPIRED
        appt.version += 1
        appt.updated_at = now
        self._history(s, appt, action="expire", from_status=HELD, from_start=appt.start_at,
                      from_doctor_id=appt.doctor_id, actor=Actor.SYSTEM, channel=None, now=now)
        self._record(s, org_id=appt.org_id, entity="appointment", entity_id=appt.id, action="hold.expired",
                     actor=Actor.SYSTEM, channel=None, event="hold.expired", payload=self._appt_payload(appt),
                     at=now)
        await s.flush()

    # --- patients -------------------------------------------------------------------
    async def find_or_create_patient(
        self, org_id: int, *, phone: str | None = None, whatsapp_id: str | None = None,
        name: str | None = None, language: str | None = None,
    ) -> PatientView:
        """The account holder for this phone / WhatsApp id (created on first contact)."""
        if not phone and not whatsapp_id:
            raise InvalidInput("a phone number or WhatsApp id is needed", field="phone")
        e164 = normalize_phone(phone) if phone else None
        # Fast path, taken on nearly every chat turn: a known patient with nothing to fill
        # in needs no write transaction (on SQLite, no turn for the one write lock).
        async with self._read() as s:
            await self._org(s, org_id)
            known = await self._find_holder(s, org_id, e164, whatsapp_id)
            if known is not None and not _fills_gap(known, e164, whatsapp_id, name, language):
                return patient_view(known)
        now = self._now()
        async with self._tx() as s:
            await self._org(s, org_id)
            patient = await self._find_holder(s, org_id, e164, whatsapp_id)
            if patient is None:
                patient = m.Patient(org_id=org_id, phone=e164, whatsapp_id=whatsapp_id, name=_clean(name),
                                    language=language, relation="self", created_at=now)
                s.add(patient)
                await s.flush()
                self._record(s, org_id=org_id, entity="patient", entity_id=patient.id, action="patient.created",
                             actor=Actor.PATIENT, channel=None, at=now)
            else:
                changed = False
                if e164 and not patient.phone:
                    patient.phone, changed = e164, True
                if whatsapp_id and not patient.whatsapp_id:
                    patient.whatsapp_id, changed = whatsapp_id, True
                if name and not patient.name:
                    patient.name, changed = _clean(name), True
                if language and not patient.language:
                    patient.language, changed = language, True
                if changed:
                    self._record(s, org_id=org_id, entity="patient", entity_id=patient.id,
                                 action="patient.updated", actor=Actor.PATIENT, channel=None, at=now)
            return patient_view(patient)

    @staticmethod
    async def _find_holder(s: AsyncSession, org_id: int, phone: str | None,
                           whatsapp_id: str | None) -> m.Patient | None:
        base = select(m.Patient).where(m.Patient.org_id == org_id, m.Patient.account_holder_id.is_(None))
        if whatsapp_id:
            found = await s.scalar(base.where(m.Patient.whatsapp_id == whatsapp_id).order_by(m.Patient.id).limit(1))
            if found:
                return found
        if phone:
            return await s.scalar(base.where(m.Patient.phone == phone).order_by(m.Patient.id).limit(1))
        return None

    async def find_patient(self, org_id: int, phone: str | None = None,
                           whatsapp_id: str | None = None) -> PatientView | None:
        """The account holder for a phone or WhatsApp id, or None (never creates)."""
        e164 = normalize_phone(phone) if phone else None
        async with self._read() as s:
            found = await self._find_holder(s, org_id, e164, whatsapp_id)
            return patient_view(found) if found else None

    async def get_patient(self, patient_id: int) -> PatientView:
        async with self._read() as s:
            return patient_view(await self._get(s, m.Patient, patient_id, "patient"))

    async def update_patient(
        self, patient_id: int, *, name: str | None = None, language: str | None = None,
    ) -> PatientView:
        now = self._now()
        async with self._tx() as s:
            patient = await self._get(s, m.Patient, patient_id, "patient")
            if name is not None:
                if not _clean(name):
                    raise InvalidInput("name must not be empty", field="name")
                patient.name = _clean(name)
            if language is not None:
                patient.language = language
            self._record(s, org_id=patient.org_id, entity="patient", entity_id=patient.id,
                         action="patient.updated", actor=Actor.PATIENT, channel=None, at=now)
            return patient_view(patient)

    async def dependents(self, patient_id: int) -> list[PatientView]:
        async with self._read() as s:
            await self._get(s, m.Patient, patient_id, "patient")
            rows = await s.scalars(select(m.Patient).where(m.Patient.account_holder_id == patient_id)
                                   .order_by(m.Patient.id))
            return [patient_view(p) for p in rows]

    async def add_dependent(
        self, patient_id: int, *, name: str, relation: str, date_of_birth: dt.date | None = None,
    ) -> PatientView:
        if not _clean(name):
            raise InvalidInput("name must not be empty", field="name")
        if relation not in RELATIONS:
            raise InvalidInput("unknown relation", field="relation", allowed=sorted(RELATIONS))
        now = self._now()
        if date_of_birth is not None and date_of_birth > now.date():
            raise InvalidInput("date of birth is in the future", field="date_of_birth")
        async with self._tx() as s:
            holder = await self._get(s, m.Patient, patient_id, "patient")
            if holder.account_holder_id is not None:
                raise InvalidInput("a dependent cannot have dependents", field="patient_id")
            dep = m.Patient(org_id=holder.org_id, name=_clean(name), phone=holder.phone, language=holder.language,
                            relation=relation, account_holder_id=holder.id, date_of_birth=date_of_birth,
                            created_at=now)
            s.add(dep)
            await s.flush()
            self._record(s, org_id=holder.org_id, entity="patient", entity_id=dep.id, action="dependent.added",
                         actor=Actor.PATIENT, channel=None, data={"account_holder_id": holder.id}, at=now)
            return patient_view(dep)

    # --- booking --------------------------------------------------------------------
    async def hold(
        self, org_id: int, *, patient_id: int, doctor_id: int, branch_id: int,
        appointment_type_id: int, start: dt.datetime, actor: Actor = Actor.PATIENT,
        channel: str | None = None, replacing_hold: int | None = None,
    ) -> AppointmentView:
        """Hold a slot for `hold_minutes` (status HELD).

        `replacing_hold`: a hold on that slot (the ASAP list's) released in the same transaction."""
        start = _aware(start, "start")
        now = self._now()
        async with self._tx() as s:
            # The patient's row lock serializes one patient's concurrent holds, so the live-hold
            # count below is read after the others committed (PostgreSQL; SQLite has one writer).
            await s.execute(select(m.Patient.id).where(m.Patient.id == patient_id).with_for_update())
            # No separate organization lookup: every row below must belong to `org_id`. The four
            # rows, "works here" and the live-hold count come in one round trip; only when a row is
            # missing do the one-by-one lookups run, to name the missing one.
            works_here, live = None, 0
            found = (await s.execute(
                select(m.Patient, m.Doctor, m.Branch, m.AppointmentType,
                       select(m.DoctorBranch.doctor_id).where(m.DoctorBranch.doctor_id == doctor_id,
                                                              m.DoctorBranch.branch_id == branch_id)
                       .scalar_subquery(),
                       select(func.count()).select_from(m.Appointment).where(
                           m.Appointment.patient_id == patient_id, m.Appointment.status == HELD,
                           m.Appointment.hold_expires_at > now).scalar_subquery())
                .select_from(m.Patient)
                .join(m.Doctor, m.Doctor.id == doctor_id)
                .join(m.Branch, m.Branch.id == branch_id)
                .join(m.AppointmentType, m.AppointmentType.id == appointment_type_id)
                .where(m.Patient.id == patient_id)
            )).one_or_none()
            if found is not None:
                patient, doctor, branch, atype, works_here, live = found
            else:
                patient = await self._get(s, m.Patient, patient_id, "patient")
                doctor = await self._get(s, m.Doctor, doctor_id, "doctor")
                branch = await self._get(s, m.Branch, branch_id, "branch")
                atype = await self._get(s, m.AppointmentType, appointment_type_id, "appointment_type")
            if patient.org_id != org_id:
                raise NotFound("patient not found", patient_id=patient_id)
            if doctor.org_id != org_id or not doctor.active:
                raise NotFound("doctor not found", doctor_id=doctor_id)
            if branch.org_id != org_id:
                raise NotFound("branch not found", branch_id=branch_id)
            if atype.org_id != org_id or not atype.active or atype.doctor_id not in (None, doctor_id):
                raise NotFound("appointment type not found", appointment_type_id=appointment_type_id)
            if atype.mode == VisitMode.TELE.value and not doctor.tele_enabled:
                raise InvalidInput("this doctor does not consult online", field="appointment_type_id")
            if works_here is None:
                raise InvalidInput("the doctor does not work at this branch", field="branch_id")
            if (live or 0) >= self.max_live_holds:
                raise TooManyHolds("too many slots on hold", limit=self.max_live_holds)
            end = await self._check_offered(s, branch=branch, doctor=doctor, duration=atype.duration_min,
                                            start=start, now=now)
            await self._hand_over(s, replacing_hold, now)
            appt = m.Appointment(
                code=await self._unused_code(s), org_id=org_id, patient_id=patient_id, doctor_id=doctor_id,
                branch_id=branch_id, appointment_type_id=atype.id, mode=atype.mode, status=HELD,
                start_at=start, end_at=end, hold_expires_at=now + dt.timedelta(minutes=self.hold_minutes),
                prepay_minor=atype.prepay_minor, currency=atype.currency, paid=False, needs_reschedule=False,
                version=1, channel=channel, created_at=now, updated_at=now,
            )
            s.add(appt)
            await s.flush()
            await self._claim_cells(s, appt, now)
            self._history(s, appt, action="hold", from_status=None, from_start=None, from_doctor_id=None,
                          actor=actor, channel=channel, now=now)
            self._record(s, org_id=org_id, entity="appointment", entity_id=appt.id, action="hold.created",
                         actor=actor, channel=channel, event="hold.created", payload=self._appt_payload(appt),
                         at=now)
            return appointment_view_of(appt, patient, doctor, branch, atype)

    @staticmethod
    async def _unused_code(s: AsyncSession) -> str:
        for _ in range(20):
            code = new_booking_code()
            if await s.scalar(select(m.Appointment.id).where(m.Appointment.code == code)) is None:
                return code
        raise RuntimeError("could not find a free booking code")  # 31^5 codes: practically unreachable

    async def confirm(
        self, appointment_id: int, *, actor: Actor = Actor.PATIENT, channel: str | None = None,
    ) -> AppointmentView:
        """A live hold becomes PENDING_PAYMENT (prepay > 0) or CONFIRMED; idempotent once done."""
        now = self._now()
        async with self._tx() as s:
            appt = await self._get(s, m.Appointment, appointment_id, "appointment", lock=True)
            if appt.status in (PENDING, CONFIRMED):
                return await appointment_view(s, appt)
            if appt.status == EXPIRED or (appt.status == HELD and appt.hold_expires_at is not None
                                          and appt.hold_expires_at <= now):
                raise HoldExpired("the hold has expired", appointment_id=appt.id, code=appt.code)
            if appt.status != HELD:
                raise InvalidTransition("cannot confirm", status=appt.status)
            self._transition(s, appt, to=PENDING if appt.prepay_minor > 0 else CONFIRMED, action="confirm",
                             event="appointment.created", actor=actor, channel=channel, now=now)
            return await appointment_view(s, appt)

    async def record_payment(
        self, appointment_id: int, *, reference: str, amount_minor: int,
        actor: Actor = Actor.SYSTEM, channel: str | None = None,
    ) -> AppointmentView:
        """A captured prepayment: PENDING_PAYMENT → CONFIRMED (idempotent per reference)."""
        if not reference or amount_minor <= 0:
            raise InvalidInput("a payment needs a reference and a positive amount")
        now = self._now()
        async with self._tx() as s:
            appt = await self._get(s, m.Appointment, appointment_id, "appointment", lock=True)
            seen = await s.scalar(select(m.Payment).where(m.Payment.reference == reference))
            if seen is not None:
                if seen.appointment_id != appt.id:
                    raise InvalidInput("payment reference belongs to another appointment", field="reference")
                return await appointment_view(s, appt)
            if appt.status not in (PENDING, CONFIRMED, HELD):
                raise InvalidTransition("cannot take a payment now", status=appt.status)
            if amount_minor < appt.prepay_minor:
                raise InvalidInput("amount is less than the prepayment", field="amount_minor")
            s.add(m.Payment(appointment_id=appt.id, reference=reference, amount_minor=amount_minor,
                            captured_at=now))
            before = appt.status
            appt.paid = True
            appt.status = CONFIRMED
            appt.hold_expires_at = None
            appt.version += 1
            appt.updated_at = now
            self._history(s, appt, action="payment", from_status=before, from_start=appt.start_at,
                          from_doctor_id=appt.doctor_id, actor=actor, channel=channel, now=now)
            self._record(s, org_id=appt.org_id, entity="appointment", entity_id=appt.id, action="payment",
                         actor=actor, channel=channel, event="appointment.updated",
                         payload=self._appt_payload(appt, change="paid"), at=now)
            return await appointment_view(s, appt)

    async def reschedule(
        self, appointment_id: int, *, start: dt.datetime, doctor_id: int | None = None,
        actor: Actor = Actor.PATIENT, channel: str | None = None, replacing_hold: int | None = None,
    ) -> AppointmentView:
        """Move an appointment, keeping its id and code; the old slot is freed, history kept.

        `replacing_hold`: a hold on the new slot (the ASAP list's) released in the same transaction."""
        start = _aware(start, "start")
        now = self._now()
        async with self._tx() as s:
            appt = await self._get(s, m.Appointment, appointment_id, "appointment", lock=True)
            if appt.status not in live_statuses():
                raise InvalidTransition("cannot move this appointment", status=appt.status)
            if appt.status == HELD and appt.hold_expires_at is not None and appt.hold_expires_at <= now:
                raise HoldExpired("the hold has expired", appointment_id=appt.id, code=appt.code)
            branch = await self._get(s, m.Branch, appt.branch_id, "branch")
            self._check_change_window(appt, branch, actor, now)
            new_doctor_id = doctor_id if doctor_id is not None else appt.doctor_id
            doctor = await self._get(s, m.Doctor, new_doctor_id, "doctor")
            if doctor.org_id != appt.org_id or not doctor.active:
                raise NotFound("doctor not found", doctor_id=new_doctor_id)
            atype = await self._get(s, m.AppointmentType, appt.appointment_type_id, "appointment_type")
            if atype.doctor_id not in (None, new_doctor_id):
                raise InvalidInput("this visit type is not offered by that doctor", field="doctor_id")
            works_here = await s.scalar(select(m.DoctorBranch.doctor_id).where(
                m.DoctorBranch.doctor_id == new_doctor_id, m.DoctorBranch.branch_id == appt.branch_id))
            if works_here is None:
                raise InvalidInput("the doctor does not work at this branch", field="doctor_id")
            end = await self._check_offered(s, branch=branch, doctor=doctor, duration=atype.duration_min,
                                            start=start, now=now)
            old_start, old_doctor = appt.start_at, appt.doctor_id
            await self._hand_over(s, replacing_hold, now)
            await s.execute(delete(m.SlotCell).where(m.SlotCell.appointment_id == appt.id))
            appt.start_at, appt.end_at, appt.doctor_id = start, end, new_doctor_id
            appt.needs_reschedule = False
            appt.version += 1
            appt.updated_at = now
            await s.flush()
            await self._claim_cells(s, appt, now)
            self._history(s, appt, action="reschedule", from_status=appt.status, from_start=old_start,
                          from_doctor_id=old_doctor, actor=actor, channel=channel, now=now)
            self._record(s, org_id=appt.org_id, entity="appointment", entity_id=appt.id, action="reschedule",
                         actor=actor, channel=channel, event="appointment.updated",
                         payload=self._appt_payload(appt, change="rescheduled", from_start=old_start.isoformat(),
                                                    from_doctor_id=old_doctor), at=now)
            return await appointment_view(s, appt)

    @staticmethod
    def _check_change_window(appt: m.Appointment, branch: m.Branch, actor: Actor | str, now: dt.datetime) -> None:
        """Patients may not cancel or move a booking inside the branch's no-change window
        (holds, staff and appointments the clinic asked to move are exempt)."""
        if appt.status == HELD or str(actor) != Actor.PATIENT.value:
            return
        if appt.needs_reschedule:
            return  # the clinic moved the ground under it: the patient may always act
        if appt.start_at - now < dt.timedelta(minutes=branch.cancel_window_min):
            raise OutsidePolicy("too close to the appointment to change it", rule="cancel_window",
                                minutes=branch.cancel_window_min)

    async def cancel(
        self, appointment_id: int, *, reason: str, actor: Actor = Actor.PATIENT,
        channel: str | None = None,
    ) -> AppointmentView:
        """Cancel a booking (or release a hold), recording reason and actor; frees the slot."""
        now = self._now()
        async with self._tx() as s:
            appt = await self._get(s, m.Appointment, appointment_id, "appointment", lock=True)
            if appt.status not in live_statuses():
                raise InvalidTransition("cannot cancel this appointment", status=appt.status)
            branch = await self._get(s, m.Branch, appt.branch_id, "branch")
            self._check_change_window(appt, branch, actor, now)
            self._cancel_in(s, appt, reason=reason, actor=actor, channel=channel, now=now)
            await s.execute(delete(m.SlotCell).where(m.SlotCell.appointment_id == appt.id))
            return await appointment_view(s, appt)

    def _cancel_in(self, s: AsyncSession, appt: m.Appointment, *, reason: str, actor: Actor | str,
                   channel: str | None, now: dt.datetime) -> None:
        """Cancel `appt` in the caller's transaction (the caller frees its cells)."""
        appt.cancel_reason = (reason or "")[:400]
        appt.cancelled_by = str(actor)
        self._transition(s, appt, to=CANCELLED, action="cancel", event="appointment.cancelled", actor=actor,
                         channel=channel, now=now, was=appt.status, cancelled_by=str(actor))

    def _transition(self, s: AsyncSession, appt: m.Appointment, *, to: str, action: str, event: str,
                    actor: Actor | str, channel: str | None, now: dt.datetime, **payload: Any) -> None:
        """Move `appt` to status `to` (no hold left on it), with history, audit and event."""
        before = appt.status
        appt.status = to
        appt.hold_expires_at = None
        appt.version += 1
        appt.updated_at = now
        self._history(s, appt, action=action, from_status=before, from_start=appt.start_at,
                      from_doctor_id=appt.doctor_id, actor=actor, channel=channel, now=now)
        self._record(s, org_id=appt.org_id, entity="appointment", entity_id=appt.id, action=action,
                     actor=actor, channel=channel, event=event, payload=self._appt_payload(appt, **payload), at=now)

    async def _hand_over(self, s: AsyncSession, hold_id: int | None, now: dt.datetime) -> None:
        """Release a hold in the caller's transaction, so that the booking made in the same
        transaction takes its place with no moment in which anyone else could."""
        if hold_id is None:
            return
        held = await self._get(s, m.Appointment, hold_id, "appointment", lock=True)
        if held.status != HELD:
            return  # expired or released meanwhile: its slot is free (or taken) either way
        self._cancel_in(s, held, reason="handed over", actor=Actor.SYSTEM, channel=None, now=now)
        await s.execute(delete(m.SlotCell).where(m.SlotCell.appointment_id == held.id))

    async def _finish(self, appointment_id: int, status: AppointmentStatus, event: str,
                      actor: Actor, channel: str | None) -> AppointmentView:
        now = self._now()
        async with self._tx() as s:
            appt = await self._get(s, m.Appointment, appointment_id, "appointment", lock=True)
            if appt.status != CONFIRMED:
                raise InvalidTransition(f"cannot mark {status.value}", status=appt.status)
            if appt.start_at > now:
                raise InvalidInput("the appointment has not started yet", field="appointment_id")
            appt.status = status.value
            appt.version += 1
            appt.updated_at = now
            self._history(s, appt, action=status.value, from_status=CONFIRMED, from_start=appt.start_at,
                          from_doctor_id=appt.doctor_id, actor=actor, channel=channel, now=now)
            self._record(s, org_id=appt.org_id, entity="appointment", entity_id=appt.id, action=status.value,
                         actor=actor, channel=channel, event=event, payload=self._appt_payload(appt), at=now)
            return await appointment_view(s, appt)

    async def mark_completed(self, appointment_id: int, *, actor: Actor = Actor.STAFF,
                             channel: str | None = None) -> AppointmentView:
        """CONFIRMED → COMPLETED (emits `appointment.completed`)."""
        return await self._finish(appointment_id, AppointmentStatus.COMPLETED, "appointment.completed",
                                  actor, channel)

    async def mark_no_show(self, appointment_id: int, *, actor: Actor = Actor.STAFF,
                           channel: str | None = None) -> AppointmentView:
        """CONFIRMED → NO_SHOW (emits `appointment.no_show`)."""
        return await self._finish(appointment_id, AppointmentStatus.NO_SHOW, "appointment.no_show",
                                  actor, channel)

    async def get_appointment(self, appointment_id: int) -> AppointmentView:
        async with self._read() as s:
            return await appointment_view(s, await self._get(s, m.Appointment, appointment_id, "appointment"))

    async def find_appointment_by_code(self, org_id: int, code: str) -> AppointmentView:
        async with self._read() as s:
            appt = await s.scalar(select(m.Appointment).where(
                m.Appointment.org_id == org_id, m.Appointment.code == normalize_code(code)))
            if appt is None:
                raise NotFound("no appointment with that code")
            return await appointment_view(s, appt)

    async def appointments_for(
        self, patient_id: int, *, upcoming: bool = True, include_dependents: bool = True,
        limit: int = 10,
    ) -> list[AppointmentView]:
        """Upcoming (live, not yet ended, soonest first) or past (latest first) appointments."""
        now = self._now()
        async with self._read() as s:
            await self._get(s, m.Patient, patient_id, "patient")
            ids = [patient_id]
            if include_dependents:
                ids += list(await s.scalars(select(m.Patient.id).where(m.Patient.account_holder_id == patient_id)))
            stmt = select(m.Appointment).where(m.Appointment.patient_id.in_(ids))
            if upcoming:
                stmt = stmt.where(
                    m.Appointment.end_at > now,
                    m.Appointment.status.in_((PENDING, CONFIRMED))
                    | ((m.Appointment.status == HELD) & (m.Appointment.hold_expires_at > now)),
                ).order_by(m.Appointment.start_at, m.Appointment.id)
            else:
                stmt = stmt.where(
                    m.Appointment.start_at <= now, m.Appointment.status != HELD, m.Appointment.status != EXPIRED,
                ).order_by(m.Appointment.start_at.desc(), m.Appointment.id.desc())
            rows = list(await s.scalars(stmt.limit(limit)))
            return [await appointment_view(s, a) for a in rows]

    # --- consent --------------------------------------------------------------------
    async def record_consent(
        self, patient_id: int, *, channel: str, purpose: str, given: bool, source: str,
    ) -> None:
        """Append a consent record (purpose "service" | "marketing")."""
        if purpose not in CONSENT_PURPOSES:
            raise InvalidInput("unknown consent purpose", field="purpose")
        if not channel or not source:
            raise InvalidInput("consent needs a channel and a source")
        now = self._now()
        async with self._tx() as s:
            patient = await self._get(s, m.Patient, patient_id, "patient")
            s.add(m.Consent(patient_id=patient_id, channel=channel, purpose=purpose, given=given, source=source,
                            recorded_at=now))
            self._record(s, org_id=patient.org_id, entity="patient", entity_id=patient_id,
                         action="consent.given" if given else "consent.withdrawn", actor=Actor.PATIENT,
                         channel=channel, data={"purpose": purpose, "source": source}, at=now)

    async def has_consent(self, patient_id: int, *, channel: str, purpose: str) -> bool | None:
        async with self._read() as s:
            return await latest_consent(s, patient_id, channel=channel, purpose=purpose)

    # --- ASAP list ------------------------------------------------------------------
    async def join_waitlist(
        self, org_id: int, *, patient_id: int, doctor_id: int | None = None,
        specialty: str | None = None, branch_id: int | None = None,
        earliest: dt.datetime | None = None, latest: dt.datetime | None = None,
        appointment_id: int | None = None, channel: str | None = None,
    ) -> WaitlistView:
        earliest = _aware(earliest, "earliest") if earliest else None
        latest = _aware(latest, "latest") if latest else None
        if earliest and latest and latest <= earliest:
            raise InvalidInput("latest must be after earliest", field="latest")
        now = self._now()
        if latest and latest <= now:
            raise InvalidInput("latest has passed", field="latest")
        async with self._tx() as s:
            await self._org(s, org_id)
            patient = await self._get(s, m.Patient, patient_id, "patient")
            if patient.org_id != org_id:
                raise NotFound("patient not found", patient_id=patient_id)
            if doctor_id is not None:
                doctor = await self._get(s, m.Doctor, doctor_id, "doctor")
                if doctor.org_id != org_id:
                    raise NotFound("doctor not found", doctor_id=doctor_id)
            if branch_id is not None:
                branch = await self._get(s, m.Branch, branch_id, "branch")
                if branch.org_id != org_id:
                    raise NotFound("branch not found", branch_id=branch_id)
            if appointment_id is not None:
                appt = await self._get(s, m.Appointment, appointment_id, "appointment")
                family = {patient_id, patient.account_holder_id}
                holder = await s.get(m.Patient, appt.patient_id)
                if appt.patient_id not in family and (holder is None or holder.account_holder_id != patient_id):
                    raise NotFound("appointment not found", appointment_id=appointment_id)
            entry = m.WaitlistEntry(org_id=org_id, patient_id=patient_id, doctor_id=doctor_id, specialty=specialty,
                                    branch_id=branch_id, earliest=earliest, latest=latest,
                                    appointment_id=appointment_id, status="active", created_at=now, updated_at=now)
            s.add(entry)
            await s.flush()
            self._record(s, org_id=org_id, entity="waitlist", entity_id=entry.id, action="waitlist.joined",
                         actor=Actor.PATIENT, channel=channel, event="waitlist.joined",
                         payload={"waitlist_id": entry.id, "patient_id": patient_id, "doctor_id": doctor_id,
                                  "specialty": specialty, "branch_id": branch_id, "appointment_id": appointment_id},
                         at=now)
            return waitlist_view(entry)

    async def leave_waitlist(self, waitlist_id: int, *, channel: str | None = None) -> WaitlistView:
        now = self._now()
        async with self._tx() as s:
            entry = await self._get(s, m.WaitlistEntry, waitlist_id, "waitlist", lock=True)
            if entry.status not in WAITLIST_OPEN:
                raise InvalidTransition("not on the list", status=entry.status)
            entry.status = "left"
            entry.updated_at = now
            self._record(s, org_id=entry.org_id, entity="waitlist", entity_id=entry.id, action="waitlist.left",
                         actor=Actor.PATIENT, channel=channel, event="waitlist.left",
                         payload={"waitlist_id": entry.id, "patient_id": entry.patient_id}, at=now)
            return waitlist_view(entry)

    async def waitlist_for(self, patient_id: int) -> list[WaitlistView]:
        async with self._read() as s:
            rows = await s.scalars(select(m.WaitlistEntry).where(
                m.WaitlistEntry.patient_id == patient_id, m.WaitlistEntry.status.in_(WAITLIST_OPEN),
            ).order_by(m.WaitlistEntry.id))
            return [waitlist_view(w) for w in rows]

    async def earlier_slot_for(self, appointment_id: int) -> SlotView | None:
        """The first free slot with the same doctor and branch before this appointment, if any."""
        now = self._now()
        async with self._read() as s:
            appt = await self._get(s, m.Appointment, appointment_id, "appointment")
            if appt.status not in live_statuses():
                return None
            found = await self._search(s, appt.org_id, now=now, doctor_id=appt.doctor_id, specialty=None,
                                       branch_id=appt.branch_id, appointment_type_id=appt.appointment_type_id,
                                       day=None, after=None, part=None, want=1, ignore_appointment_id=appt.id)
        if found and found[0].start < appt.start_at:
            c = found[0]
            return SlotView(c.doctor_id, c.branch_id, c.start, c.end, c.timezone)
        return None

    # --- operations for workers and staff --------------------------------------------
    async def release_expired_holds(self) -> list[int]:
        """Expire every lapsed hold (frees its slot, emits `hold.expired`); returns their ids."""
        now = self._now()
        async with self._tx() as s:
            rows = list(await s.scalars(
                select(m.Appointment).where(m.Appointment.status == HELD, m.Appointment.hold_expires_at <= now)
                .order_by(m.Appointment.id).with_for_update(skip_locked=True)
            ))
            for appt in rows:
                await self._expire(s, appt, now)
            if rows:
                log.info("expired %d holds", len(rows))
            return [a.id for a in rows]

    async def add_leave(self, doctor_id: int, start: dt.datetime, end: dt.datetime, reason: str = "",
                        *, actor: Actor = Actor.STAFF, channel: str | None = None) -> list[int]:
        """Record a doctor's leave; booked appointments inside it are marked needs_reschedule
        (event `appointment.needs_reschedule` each). Returns their ids."""
        start, end = _aware(start, "start"), _aware(end, "end")
        if end <= start:
            raise InvalidInput("leave must end after it starts", field="end")
        now = self._now()
        async with self._tx() as s:
            doctor = await self._get(s, m.Doctor, doctor_id, "doctor")
            leave = m.Leave(doctor_id=doctor_id, start_at=start, end_at=end, reason=reason[:200], created_at=now)
            s.add(leave)
            await s.flush()
            self._record(s, org_id=doctor.org_id, entity="doctor", entity_id=doctor_id, action="leave.added",
                         actor=actor, channel=channel, data={"leave_id": leave.id}, at=now)
            hit = list(await s.scalars(select(m.Appointment).where(
                m.Appointment.doctor_id == doctor_id, m.Appointment.status.in_((PENDING, CONFIRMED)),
                m.Appointment.start_at < end, m.Appointment.end_at > start,
            ).order_by(m.Appointment.start_at)))
            return self._flag_for_reschedule(s, hit, reason="leave", actor=actor, channel=channel, now=now)

    def _flag_for_reschedule(self, s: AsyncSession, appts: Iterable[m.Appointment], *, reason: str,
                             actor: Actor | str, channel: str | None, now: dt.datetime) -> list[int]:
        ids: list[int] = []
        for appt in appts:
            if appt.needs_reschedule:
                continue
            appt.needs_reschedule = True
            appt.version += 1
            appt.updated_at = now
            self._history(s, appt, action="needs_reschedule", from_status=appt.status, from_start=appt.start_at,
                          from_doctor_id=appt.doctor_id, actor=actor, channel=channel, now=now)
            self._record(s, org_id=appt.org_id, entity="appointment", entity_id=appt.id,
                         action="needs_reschedule", actor=actor, channel=channel,
                         event="appointment.needs_reschedule", payload=self._appt_payload(appt, reason=reason),
                         at=now)
            ids.append(appt.id)
        return ids

    async def import_availability_snapshot(
        self, doctor_id: int, branch_id: int, day: dt.date,
        ranges: Sequence[tuple[dt.time | str, dt.time | str]], slot_minutes: int,
    ) -> list[int]:
        """Replace a day's availability with an imported snapshot (PMS shape: ranges + slot length).

        Empty `ranges` closes the day. Booked appointments that no longer fit are marked
        needs_reschedule; their ids are returned.
        """
        if slot_minutes <= 0 or slot_minutes > 24 * 60:
            raise InvalidInput("slot length must be positive", field="slot_minutes")
        parsed = [(_time(a), _time(b)) for a, b in ranges]
        if any(b <= a for a, b in parsed):
            raise InvalidInput("each range must end after it starts", field="ranges")
        now = self._now()
        async with self._tx() as s:
            doctor, branch = await self._doctor_and_branch(s, doctor_id, branch_id)
            await s.execute(delete(m.DateAvailability).where(
                m.DateAvailability.doctor_id == doctor_id, m.DateAvailability.branch_id == branch_id,
                m.DateAvailability.day == day))
            if parsed:
                s.add_all(m.DateAvailability(doctor_id=doctor_id, branch_id=branch_id, day=day, start_time=a,
                                             end_time=b, slot_minutes=slot_minutes, source="snapshot")
                          for a, b in parsed)
            else:
                s.add(m.DateAvailability(doctor_id=doctor_id, branch_id=branch_id, day=day, start_time=None,
                                         end_time=None, slot_minutes=slot_minutes, source="snapshot"))
            self._record(s, org_id=doctor.org_id, entity="doctor", entity_id=doctor_id,
                         action="availability.imported", actor=Actor.SYSTEM, channel=None,
                         data={"branch_id": branch_id, "day": day.isoformat(), "ranges": len(parsed)}, at=now)
            tz = zone(branch.timezone)
            lo, hi = local_day_bounds(day, tz)
            booked = list(await s.scalars(select(m.Appointment).where(
                m.Appointment.doctor_id == doctor_id, m.Appointment.branch_id == branch_id,
                m.Appointment.status.in_((PENDING, CONFIRMED)), m.Appointment.start_at >= lo,
                m.Appointment.start_at < hi)))
            outside = _misfits(booked, tz, lambda _day: parsed)
            return self._flag_for_reschedule(s, outside, reason="schedule_change", actor=Actor.SYSTEM,
                                             channel=None, now=now)

    async def set_weekly_schedule(
        self, doctor_id: int, branch_id: int, ranges: Mapping[int, Sequence[tuple[dt.time | str, dt.time | str]]],
        slot_minutes: int, *, effective_from: dt.date | None = None, actor: Actor | str = Actor.STAFF,
        channel: str | None = None,
    ) -> list[int]:
        """Replace a doctor's weekly schedule at a branch from `effective_from` on.

        `ranges` maps weekday (0 = Monday) to local wall-clock ranges; a weekday left out is
        not worked. `effective_from` defaults to today in the branch's zone; the old weekly
        rows keep governing the days before it. Recurring breaks and per-date overrides are
        left as they are (an override still decides its own day). Upcoming booked appointments
        (pending payment or confirmed) that no longer fit are marked needs_reschedule, with an
        `appointment.needs_reschedule` event each, as `add_leave` does; their ids are returned.
        """
        if slot_minutes <= 0 or slot_minutes > 24 * 60:
            raise InvalidInput("slot length must be positive", field="slot_minutes")
        parsed: dict[int, list[tuple[dt.time, dt.time]]] = {}
        for weekday, day_ranges in ranges.items():
            if isinstance(weekday, bool) or not isinstance(weekday, int) or not 0 <= weekday <= 6:
                raise InvalidInput("weekday must be 0 (Monday) to 6 (Sunday)", field="ranges")
            parsed[weekday] = [(_time(a), _time(b)) for a, b in day_ranges]
            if any(b <= a for a, b in parsed[weekday]):
                raise InvalidInput("each range must end after it starts", field="ranges")
        now = self._now()
        async with self._tx() as s:
            doctor, branch = await self._doctor_and_branch(s, doctor_id, branch_id)
            tz = zone(branch.timezone)
            start_day = effective_from or now.astimezone(tz).date()
            sc = m.Schedule
            mine = (sc.doctor_id == doctor_id, sc.branch_id == branch_id)
            # Rows that only begin on/after the change go; rows running into it end the day before.
            await s.execute(delete(sc).where(*mine, sc.valid_from.is_not(None), sc.valid_from >= start_day))
            await s.execute(update(sc).where(*mine, or_(sc.valid_until.is_(None), sc.valid_until >= start_day))
                            .values(valid_until=start_day - dt.timedelta(days=1)))
            s.add_all(sc(doctor_id=doctor_id, branch_id=branch_id, weekday=wd, start_time=a, end_time=b,
                         slot_minutes=slot_minutes, valid_from=start_day, valid_until=None)
                      for wd, day_ranges in sorted(parsed.items()) for a, b in day_ranges)
            self._record(s, org_id=doctor.org_id, entity="doctor", entity_id=doctor_id,
                         action="schedule.replaced", actor=actor, channel=channel,
                         data={"branch_id": branch_id, "effective_from": start_day.isoformat(),
                               "ranges": sum(len(r) for r in parsed.values())}, at=now)
            booked = list(await s.scalars(select(m.Appointment).where(
                m.Appointment.doctor_id == doctor_id, m.Appointment.branch_id == branch_id,
                m.Appointment.status.in_((PENDING, CONFIRMED)),
                m.Appointment.start_at >= max(now, local_day_bounds(start_day, tz)[0]),
            ).order_by(m.Appointment.start_at)))
            # Days with a per-date override keep their own ranges: the weekly change does not reach them.
            overridden = set(await s.scalars(select(m.DateAvailability.day).where(
                m.DateAvailability.doctor_id == doctor_id, m.DateAvailability.branch_id == branch_id,
                m.DateAvailability.day >= start_day)))
            booked = [x for x in booked if x.start_at.astimezone(tz).date() not in overridden]
            outside = _misfits(booked, tz, lambda day: parsed.get(day.weekday(), []))
            flagged = self._flag_for_reschedule(s, outside, reason="schedule_change", actor=actor,
                                                channel=channel, now=now)
            org_id = doctor.org_id
        # After the commit, so a search cannot re-cache the old schedule in between.
        self.invalidate_directory(org_id)
        log.info("weekly schedule replaced doctor=%s branch=%s flagged=%d", doctor_id, branch_id, len(flagged))
        return flagged

    async def pending_events(self, limit: int = 100) -> list[EventView]:
        """Unprocessed outbox events, oldest first."""
        async with self._read() as s:
            rows = await s.scalars(select(m.Event).where(m.Event.processed_at.is_(None))
                                   .order_by(m.Event.id).limit(limit))
            return [event_view(e) for e in rows]

    async def mark_events_processed(self, ids: Sequence[int]) -> None:
        """Mark outbox events as handled (idempotent)."""
        if not ids:
            return
        now = self._now()
        async with self._tx() as s:
            await s.execute(update(m.Event).where(m.Event.id.in_(list(ids)), m.Event.processed_at.is_(None))
                            .values(processed_at=now))


def _fills_gap(patient: m.Patient, phone: str | None, whatsapp_id: str | None, name: str | None,
               language: str | None) -> bool:
    """Whether `find_or_create_patient` would fill in a field the patient lacks."""
    return bool((phone and not patient.phone) or (whatsapp_id and not patient.whatsapp_id)
                or (name and not patient.name) or (language and not patient.language))


def _misfits(booked: Iterable[m.Appointment], tz: dt.tzinfo,
             ranges_for: Callable[[dt.date], Sequence[tuple[dt.time, dt.time]]]) -> list[m.Appointment]:
    """The appointments that fit inside none of their local day's working ranges."""
    out: list[m.Appointment] = []
    for appt in booked:
        day = appt.start_at.astimezone(tz).date()
        spans = [(dt.datetime.combine(day, a, tzinfo=tz), dt.datetime.combine(day, b, tzinfo=tz))
                 for a, b in ranges_for(day)]
        if not any(sa <= appt.start_at and appt.end_at <= sb for sa, sb in spans):
            out.append(appt)
    return out


def _clean(name: str | None) -> str | None:
    return " ".join(name.split())[:200] if name else None


def _time(value: dt.time | str) -> dt.time:
    if isinstance(value, dt.time):
        return value
    try:
        return dt.time.fromisoformat(value)
    except ValueError as exc:
        raise InvalidInput("times must look like 09:30", field="ranges") from exc


def _haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    r = 6371.0
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * r * math.asin(math.sqrt(a))


def _doctor_score(query: str, doctor: DoctorView) -> float:
    """How well a free-text query names this doctor or one of their specialties (0–100)."""
    q = query.lower().replace("dr.", " ").replace("dr ", " ").replace("doctor", " ").strip() or query.lower()
    name = f"{doctor.first_name} {doctor.last_name}".lower()
    best = max(fuzz.token_set_ratio(q, name), fuzz.WRatio(q, name) if len(q) >= 3 else 0.0)
    for spec in doctor.specialties:
        words = (spec.replace("_", " "), *SPECIALTY_WORDS.get(spec, ()))
        for word in words:
            best = max(best, fuzz.token_set_ratio(q, word), fuzz.partial_ratio(word, q) if len(word) >= 3 else 0.0)
    return float(best)
