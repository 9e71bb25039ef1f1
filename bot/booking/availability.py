"""Availability: which slots a set of doctors offers over a span of local days.

Designed for the search's latency budget: a handful of indexed queries per span
(schedules, date overrides, leave, holidays, occupied cells), then pure-Python slot
generation per doctor and day with the occupied cells subtracted as a set.
"""

from __future__ import annotations

import datetime as dt
from bisect import bisect_left
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.booking import models as m
from bot.booking.slots import (
    WorkRange,
    candidate_slots,
    local_day_bounds,
    overlaps,
    zone,
)
from bot.booking.types import AppointmentStatus

# No visit is longer than this; bounds the indexed range scan for busy time.
_LONGEST_VISIT = dt.timedelta(hours=12)


@dataclass(frozen=True, slots=True)
class Candidate:
    doctor_id: int
    branch_id: int
    start: dt.datetime
    end: dt.datetime
    timezone: str


class Availability:
    """Slot generation for (doctor, branch) pairs over a span of local days, in one session."""

    def __init__(self, session: AsyncSession, pairs: Sequence[tuple[int, int]],
                 branches: dict[int, m.Branch]) -> None:
        self.session = session
        self.pairs = list(pairs)
        self.branches = branches
        self.doctor_ids = sorted({d for d, _ in pairs})
        self._weekly: dict[tuple[int, int, int], list[tuple[dt.time, dt.time, int, dt.date | None, dt.date | None]]] | None = None
        self._breaks: dict[tuple[int, int, int], list[tuple[dt.time, dt.time]]] = defaultdict(list)

    async def _execute(self, stmt: Any) -> Any:
        # Core execution on the session's connection: these are column selects, and the
        # ORM execution path would add per-row overhead the search cannot afford.
        conn = await self.session.connection()
        return await conn.execute(stmt)

    async def _load_weekly(self) -> None:
        # Plain column rows, not ORM objects: this runs on every search.
        weekly: dict[tuple[int, int, int], list[tuple[dt.time, dt.time, int, dt.date | None, dt.date | None]]]
        weekly = defaultdict(list)
        if self.doctor_ids:
            for doc_id, branch_id, weekday, start, end, slot, valid_from, valid_until in await self._execute(
                select(m.Schedule.doctor_id, m.Schedule.branch_id, m.Schedule.weekday, m.Schedule.start_time,
                       m.Schedule.end_time, m.Schedule.slot_minutes, m.Schedule.valid_from, m.Schedule.valid_until)
                .where(m.Schedule.doctor_id.in_(self.doctor_ids))
            ):
                weekly[(doc_id, branch_id, weekday)].append((start, end, slot, valid_from, valid_until))
            for doc_id, branch_id, weekday, start, end in await self._execute(
                select(m.ScheduleBreak.doctor_id, m.ScheduleBreak.branch_id, m.ScheduleBreak.weekday,
                       m.ScheduleBreak.start_time, m.ScheduleBreak.end_time)
                .where(m.ScheduleBreak.doctor_id.in_(self.doctor_ids))
            ):
                self._breaks[(doc_id, branch_id, weekday)].append((start, end))
        self._weekly = weekly

    async def candidates(
        self, first_day: dt.date, last_day: dt.date, duration_min: int | None, *,
        now: dt.datetime, not_before: dict[int, dt.datetime], not_after: dict[int, dt.datetime],
        free_only: bool = True, ignore_appointment_id: int | None = None,
    ) -> list[Candidate]:
        """Offered slots on local days first_day..last_day (inclusive), in time order.

        `not_before`/`not_after` per branch carry the booking window; leave, holidays and
        (with `free_only`) occupied cells are subtracted. Cells of holds that have expired
        but were not swept yet count as free.
        """
        if self._weekly is None:
            await self._load_weekly()
        assert self._weekly is not None
        if not self.pairs:
            return []
        days = [first_day + dt.timedelta(days=i) for i in range((last_day - first_day).days + 1)]
        span_start = min(local_day_bounds(first_day, zone(self.branches[b].timezone))[0] for _, b in self.pairs)
        span_end = max(local_day_bounds(last_day, zone(self.branches[b].timezone))[1] for _, b in self.pairs)

        overrides: dict[tuple[int, int, dt.date], list[WorkRange | None]] = defaultdict(list)
        for doc_id, branch_id, day, start, end, slot in await self._execute(
            select(m.DateAvailability.doctor_id, m.DateAvailability.branch_id, m.DateAvailability.day,
                   m.DateAvailability.start_time, m.DateAvailability.end_time, m.DateAvailability.slot_minutes)
            .where(
                m.DateAvailability.doctor_id.in_(self.doctor_ids),
                m.DateAvailability.day >= first_day, m.DateAvailability.day <= last_day,
            )
        ):
            # A row without times closes the day: it is recorded, but offers no range.
            overrides[(doc_id, branch_id, day)].append(
                WorkRange(start, end, slot) if start is not None and end is not None else None)

        leaves: dict[int, list[tuple[dt.datetime, dt.datetime]]] = defaultdict(list)
        for doc_id, l_start, l_end in await self._execute(
            select(m.Leave.doctor_id, m.Leave.start_at, m.Leave.end_at).where(
                m.Leave.doctor_id.in_(self.doctor_ids), m.Leave.start_at < span_end, m.Leave.end_at > span_start,
            )
        ):
            leaves[doc_id].append((l_start, l_end))

        org_ids = {self.branches[b].org_id for _, b in self.pairs}
        holidays: set[tuple[int | None, dt.date]] = set()
        for branch_id, day in await self._execute(
            select(m.Holiday.branch_id, m.Holiday.day).where(
                m.Holiday.org_id.in_(org_ids), m.Holiday.day >= first_day, m.Holiday.day <= last_day,
            )
        ):
            holidays.add((branch_id, day))

        # Busy time comes from the live appointments themselves (a third of the rows the cells
        # would give, and no join); per doctor they never overlap — slot_cells guarantees it —
        # so sorted by start they are sorted by end too and one bisect answers "is it free?".
        busy: dict[int, tuple[list[dt.datetime], list[dt.datetime]]] = {}
        if free_only:
            query = (
                select(m.Appointment.doctor_id, m.Appointment.start_at, m.Appointment.end_at)
                .where(
                    m.Appointment.doctor_id.in_(self.doctor_ids),
                    m.Appointment.start_at >= span_start - _LONGEST_VISIT, m.Appointment.start_at < span_end,
                    m.Appointment.end_at > span_start,
                    m.Appointment.status.in_(live_statuses()),
                    or_(m.Appointment.status != AppointmentStatus.HELD.value, m.Appointment.hold_expires_at > now),
                )
                .order_by(m.Appointment.doctor_id, m.Appointment.start_at)
            )
            if ignore_appointment_id is not None:
                query = query.where(m.Appointment.id != ignore_appointment_id)
            for doc_id, b_start, b_end in await self._execute(query):
                starts, ends = busy.setdefault(doc_id, ([], []))
                starts.append(b_start)
                ends.append(b_end)

        out: list[Candidate] = []
        for doctor_id, branch_id in self.pairs:
            branch = self.branches[branch_id]
            tz = zone(branch.timezone)
            lo, hi = not_before[branch_id], not_after[branch_id]
            for day in days:
                if (None, day) in holidays or (branch_id, day) in holidays:
                    continue
                ranges = self._ranges(doctor_id, branch_id, day, overrides)
                if not ranges:
                    continue
                breaks = self._breaks.get((doctor_id, branch_id, day.weekday()), [])
                if (doctor_id, branch_id, day) in overrides:
                    breaks = []  # a date override / snapshot states its ranges exactly
                doc_leaves = leaves.get(doctor_id, [])
                for start, end in candidate_slots(day, tz, ranges, breaks, duration_min):
                    if start < lo or start > hi:
                        continue
                    if doc_leaves and overlaps(start, end, doc_leaves):
                        continue
                    taken = busy.get(doctor_id)
                    if taken is not None:
                        j = bisect_left(taken[0], end) - 1
                        if j >= 0 and taken[1][j] > start:
                            continue
                    out.append(Candidate(doctor_id, branch_id, start, end, branch.timezone))
        out.sort(key=lambda c: (c.start, c.doctor_id, c.branch_id))
        return out

    def _ranges(self, doctor_id: int, branch_id: int, day: dt.date,
                overrides: dict[tuple[int, int, dt.date], list[WorkRange | None]]) -> list[WorkRange]:
        assert self._weekly is not None
        if (doctor_id, branch_id, day) in overrides:
            return [r for r in overrides[(doctor_id, branch_id, day)] if r is not None]
        return [
            WorkRange(start, end, slot)
            for start, end, slot, valid_from, valid_until in self._weekly.get((doctor_id, branch_id, day.weekday()), [])
            if (valid_from is None or valid_from <= day) and (valid_until is None or day <= valid_until)
        ]


def live_statuses() -> tuple[str, ...]:
    """Statuses whose appointment occupies its slot."""
    return (AppointmentStatus.HELD.value, AppointmentStatus.PENDING_PAYMENT.value,
            AppointmentStatus.CONFIRMED.value)


__all__ = ["Availability", "Candidate", "live_statuses"]
