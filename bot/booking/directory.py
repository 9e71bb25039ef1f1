"""A short-lived, per-service cache of the clinic directory the slot search reads on every call.

Branch booking rules, doctors (active, tele, specialties, branches) and weekly schedules with
their breaks change rarely and only through staff tooling, yet a search would otherwise spend
most of its round trips re-reading them. `DirectoryCache` keeps one snapshot per organization
for `ttl` seconds (monotonic clock); `invalidate()` drops it at once. Everything date-bound —
date overrides, leave, holidays and busy time — is never cached, and booking validates a slot
against fresh rows in its own transaction, where the `slot_cells` primary key stays the guard.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from sqlalchemy import Integer, String, null, select, type_coerce, union_all
from sqlalchemy.ext.asyncio import AsyncSession

from bot.booking import models as m
from bot.booking.availability import Breaks, Weekly, kind_tag, weekly_query

DEFAULT_TTL_SECONDS = 5.0


@dataclass(frozen=True, slots=True)
class BranchRules:
    """What the search needs of a branch (a plain value: safe to keep across sessions)."""

    id: int
    org_id: int
    timezone: str
    lead_time_min: int
    horizon_days: int


@dataclass(frozen=True, slots=True)
class DoctorEntry:
    """An active or inactive doctor of the organization, with where and what they practise."""

    id: int
    active: bool
    tele_enabled: bool
    specialties: frozenset[str]
    branch_ids: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Directory:
    """One organization's snapshot: branches and doctors, plus weekly schedules read per doctor on demand."""

    branches: dict[int, BranchRules]
    doctors: tuple[DoctorEntry, ...]
    # doctor id → that doctor's (weekly ranges, breaks); filled lazily so that a cold search
    # reads only its candidate doctors' schedules, never the whole clinic's.
    schedules_by_doctor: dict[int, tuple[Weekly, Breaks]] = field(default_factory=dict)

    async def schedules(self, session: AsyncSession, doctor_ids: Sequence[int]) -> tuple[Weekly, Breaks]:
        """Weekly ranges and breaks of these doctors (read once per snapshot, in one round trip)."""
        missing = [d for d in doctor_ids if d not in self.schedules_by_doctor]
        if missing:
            loaded: dict[int, tuple[Weekly, Breaks]] = {d: (defaultdict(list), defaultdict(list)) for d in missing}
            conn = await session.connection()
            for kind, doc_id, branch_id, weekday, start, end, slot, valid_from, valid_until in await conn.execute(
                weekly_query(missing)
            ):
                weekly, breaks = loaded[doc_id]
                if kind == 0:
                    weekly[(doc_id, branch_id, weekday)].append((start, end, slot, valid_from, valid_until))
                else:
                    breaks[(doc_id, branch_id, weekday)].append((start, end))
            # Whole entries are stored after the read, so a concurrent search never sees half of one.
            for doc_id, (weekly, breaks) in loaded.items():
                self.schedules_by_doctor[doc_id] = (dict(weekly), dict(breaks))
        all_weekly: Weekly = {}
        all_breaks: Breaks = {}
        for doc_id in doctor_ids:
            weekly, breaks = self.schedules_by_doctor[doc_id]
            all_weekly.update(weekly)
            all_breaks.update(breaks)
        return all_weekly, all_breaks

    def pairs(self, *, doctor_id: int | None, branch_id: int | None, specialty: str | None,
              tele_only: bool) -> list[tuple[int, int]]:
        """(doctor, branch) pairs of active doctors matching the filters, at this org's branches."""
        out: list[tuple[int, int]] = []
        for doc in self.doctors:
            if not doc.active or (doctor_id is not None and doc.id != doctor_id):
                continue
            if (tele_only and not doc.tele_enabled) or (specialty and specialty not in doc.specialties):
                continue
            out.extend((doc.id, b) for b in doc.branch_ids
                       if b in self.branches and (branch_id is None or b == branch_id))
        return out


class DirectoryCache:
    """Per-organization `Directory` snapshots, each reused for `ttl` seconds (0 disables reuse)."""

    def __init__(self, ttl: float = DEFAULT_TTL_SECONDS, *, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self._monotonic = monotonic
        self._entries: dict[int, tuple[float, Directory]] = {}

    def invalidate(self, org_id: int | None = None) -> None:
        """Forget one organization's snapshot (or all): the next search reloads it."""
        if org_id is None:
            self._entries.clear()
        else:
            self._entries.pop(org_id, None)

    async def get(self, session: AsyncSession, org_id: int) -> Directory:
        """The organization's snapshot, loaded with `session` when missing or older than `ttl`."""
        now = self._monotonic()
        hit = self._entries.get(org_id)
        if hit is not None and now - hit[0] < self.ttl:
            return hit[1]
        directory = await load_directory(session, org_id)
        if self.ttl > 0:
            self._entries[org_id] = (now, directory)
        return directory


async def load_directory(session: AsyncSession, org_id: int) -> Directory:
    """Read one organization's branches and doctors in three round trips (plain column rows, no ORM objects)."""
    conn = await session.connection()
    branches = {
        bid: BranchRules(bid, oid, tz, lead, horizon)
        for bid, oid, tz, lead, horizon in await conn.execute(
            select(m.Branch.id, m.Branch.org_id, m.Branch.timezone, m.Branch.lead_time_min, m.Branch.horizon_days)
            .where(m.Branch.org_id == org_id))
    }
    specs: dict[int, set[str]] = defaultdict(set)
    where: dict[int, list[int]] = defaultdict(list)
    # Specialties and branch links in one UNION ALL: kind 0 carries a specialty, kind 1 a branch id.
    doc_ids = select(m.Doctor.id).where(m.Doctor.org_id == org_id)
    for kind, doc_id, spec, branch in await conn.execute(union_all(
        select(kind_tag(0), m.DoctorSpecialty.doctor_id, m.DoctorSpecialty.specialty, type_coerce(null(), Integer))
        .where(m.DoctorSpecialty.doctor_id.in_(doc_ids)),
        select(kind_tag(1), m.DoctorBranch.doctor_id, type_coerce(null(), String), m.DoctorBranch.branch_id)
        .where(m.DoctorBranch.doctor_id.in_(doc_ids)),
    )):
        if kind == 0:
            specs[doc_id].add(spec)
        else:
            where[doc_id].append(branch)
    doctors = tuple(
        DoctorEntry(doc_id, bool(active), bool(tele), frozenset(specs.get(doc_id, ())),
                    tuple(sorted(where.get(doc_id, ()))))
        for doc_id, active, tele in await conn.execute(
            select(m.Doctor.id, m.Doctor.active, m.Doctor.tele_enabled).where(m.Doctor.org_id == org_id)
            .order_by(m.Doctor.id))
    )
    return Directory(branches, doctors)


__all__ = ["BranchRules", "Directory", "DirectoryCache", "DoctorEntry", "DEFAULT_TTL_SECONDS", "load_directory"]
