"""Availability: which slots a set of doctors offers over a span of local days.

Designed for the search's latency budget, which is round trips more than rows: weekly
schedules and breaks come in one UNION ALL (or preloaded from the service's directory
cache), and everything date-bound — date overrides, leave, holidays, busy time — in a
second one per span. Slot generation is pure Python per doctor and day, with busy time
subtracted by bisection.
"""

from __future__ import annotations

import datetime as dt
import heapq
from bisect import bisect_left
from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from itertools import islice
from typing import Any, Protocol

from sqlalchemy import Integer, and_, bindparam, case, literal_column, null, or_, select, type_coerce, union_all
from sqlalchemy.ext.asyncio import AsyncSession

from bot.booking import models as m
from bot.booking.slots import (
    WorkRange,
    candidate_slots,
    local_day_bounds,
    overlaps,
    part_of_day,
    zone,
)
from bot.booking.types import AppointmentStatus, PartOfDay

# No visit is longer than this; bounds the indexed range scan for busy time.
_LONGEST_VISIT = dt.timedelta(hours=12)
# Row kinds of the per-span UNION ALL in `Availability.candidates`.
_OVERRIDE, _LEAVE, _HOLIDAY, _BUSY, _NOT_LIVE = 0, 1, 2, 3, 4


def kind_tag(value: int) -> Any:
    """An inline integer tag for a UNION ALL branch (inline, so no bind needs a type on PostgreSQL)."""
    return literal_column(str(int(value)), Integer)


# (doctor_id, branch_id, weekday) → [(start, end, slot_minutes, valid_from, valid_until)]
Weekly = dict[tuple[int, int, int], list[tuple[dt.time, dt.time, int, dt.date | None, dt.date | None]]]
# (doctor_id, branch_id, weekday) → [(start, end)]
Breaks = dict[tuple[int, int, int], list[tuple[dt.time, dt.time]]]


class BranchLike(Protocol):
    """What availability reads of a branch: an ORM row or a cached `BranchRules`."""

    @property
    def org_id(self) -> int: ...

    @property
    def timezone(self) -> str: ...


def weekly_query(doctor_ids: Sequence[int]) -> Any:
    """Weekly ranges (kind 0) and recurring breaks (kind 1) of these doctors in one UNION ALL.

    Columns: kind, doctor_id, branch_id, weekday, start_time, end_time, slot_minutes,
    valid_from, valid_until (the last three are NULL on break rows).
    """
    s, b = m.Schedule, m.ScheduleBreak
    return union_all(
        select(kind_tag(0), s.doctor_id, s.branch_id, s.weekday, s.start_time, s.end_time, s.slot_minutes,
               s.valid_from, s.valid_until).where(s.doctor_id.in_(doctor_ids)),
        select(kind_tag(1), b.doctor_id, b.branch_id, b.weekday, b.start_time, b.end_time, null(), null(),
               null()).where(b.doctor_id.in_(doctor_ids)),
    )


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
                 branches: Mapping[int, BranchLike], *, weekly: Weekly | None = None,
                 breaks: Breaks | None = None) -> None:
        """`weekly`/`breaks` may come preloaded (the service's directory cache); else they are read."""
        self.session = session
        self.pairs = list(pairs)
        self.branches = branches
        self.doctor_ids = sorted({d for d, _ in pairs})
        self._weekly: Weekly | None = weekly
        self._breaks: Breaks = breaks if breaks is not None else defaultdict(list)

    async def _execute(self, stmt: Any, params: dict[str, Any] | None = None) -> Any:
        # Core execution on the session's connection: these are column selects, and the
        # ORM execution path would add per-row overhead the search cannot afford.
        conn = await self.session.connection()
        return await conn.execute(stmt, params)

    async def _load_weekly(self) -> None:
        # Plain column rows, not ORM objects: this runs on every search that has no cached
        # directory. Weekly ranges and breaks travel in one UNION ALL (one round trip, not two).
        weekly: Weekly = defaultdict(list)
        if self.doctor_ids:
            for kind, doc_id, branch_id, weekday, start, end, slot, valid_from, valid_until in await self._execute(
                weekly_query(self.doctor_ids)
            ):
                if kind == 0:
                    weekly[(doc_id, branch_id, weekday)].append((start, end, slot, valid_from, valid_until))
                else:
                    self._breaks[(doc_id, branch_id, weekday)].append((start, end))
        self._weekly = weekly

    async def candidates(
        self, first_day: dt.date, last_day: dt.date, duration_min: int | None, *,
        now: dt.datetime, not_before: dict[int, dt.datetime], not_after: dict[int, dt.datetime],
        free_only: bool = True, ignore_appointment_id: int | None = None, limit: int | None = None,
        part: PartOfDay | None = None,
    ) -> list[Candidate]:
        """Offered slots on local days first_day..last_day (inclusive), in time order.

        `not_before`/`not_after` per branch carry the booking window; leave, holidays and
        (with `free_only`) occupied cells are subtracted. Cells of holds that have expired
        but were not swept yet count as free. `part` keeps one part of the local day. With
        `limit`, only the first `limit` are returned.
        """
        if self._weekly is None:
            await self._load_weekly()
        assert self._weekly is not None
        if not self.pairs:
            return []
        days = [first_day + dt.timedelta(days=i) for i in range((last_day - first_day).days + 1)]
        zones = {b: zone(self.branches[b].timezone) for _, b in self.pairs}
        span_start = min(local_day_bounds(first_day, tz)[0] for tz in zones.values())
        span_end = max(local_day_bounds(last_day, tz)[1] for tz in zones.values())

        params: dict[str, Any] = {
            "doctor_ids": self.doctor_ids, "first_day": first_day, "last_day": last_day,
            "span_start": span_start, "span_end": span_end,
            "org_ids": sorted({self.branches[b].org_id for _, b in self.pairs}),
        }
        if free_only:
            params.update(now=now, busy_from=span_start - _LONGEST_VISIT)
            if ignore_appointment_id is not None:
                params["ignore_id"] = ignore_appointment_id
        stmt = _span_query(free_only, ignore_appointment_id is not None)

        overrides: dict[tuple[int, int, dt.date], list[WorkRange | None]] = defaultdict(list)
        leaves: dict[int, list[tuple[dt.datetime, dt.datetime]]] = defaultdict(list)
        holidays: set[tuple[int | None, dt.date]] = set()
        # Busy time comes from the live appointments themselves (a third of the rows the cells
        # would give, and no join); per doctor they never overlap — slot_cells guarantees it —
        # so sorted by start they are sorted by end too and one bisect answers "is it free?".
        busy_rows: dict[int, list[tuple[dt.datetime, dt.datetime]]] = defaultdict(list)
        for kind, doc_id, branch_id, day, start, end, slot, at_start, at_end in await self._execute(stmt, params):
            if kind == _BUSY:
                busy_rows[doc_id].append((at_start, at_end))
            elif kind == _OVERRIDE:
                # A row without times closes the day: it is recorded, but offers no range.
                overrides[(doc_id, branch_id, day)].append(
                    WorkRange(start, end, slot) if start is not None and end is not None else None)
            elif kind == _LEAVE:
                leaves[doc_id].append((at_start, at_end))
            elif kind == _HOLIDAY:
                holidays.add((branch_id, day))
        busy: dict[int, tuple[list[dt.datetime], list[dt.datetime]]] = {}
        for doc_id, spans in busy_rows.items():
            spans.sort()
            busy[doc_id] = ([a for a, _ in spans], [b for _, b in spans])

        def offered(doctor_id: int, branch_id: int) -> Iterator[tuple[dt.datetime, int, int, dt.datetime, str]]:
            """This pair's slots in time order (plain tuples: they sort natively, in Candidate order)."""
            tz_name = self.branches[branch_id].timezone
            tz = zones[branch_id]
            lo, hi = not_before[branch_id], not_after[branch_id]
            taken = busy.get(doctor_id)
            doc_leaves = leaves.get(doctor_id)
            for day in days:
                if (None, day) in holidays or (branch_id, day) in holidays:
                    continue
                ranges = self._ranges(doctor_id, branch_id, day, overrides)
                if not ranges:
                    continue
                breaks = self._breaks.get((doctor_id, branch_id, day.weekday()), [])
                if (doctor_id, branch_id, day) in overrides:
                    breaks = []  # a date override / snapshot states its ranges exactly
                for start, end in candidate_slots(day, tz, ranges, breaks, duration_min):
                    if start < lo or start > hi:
                        continue
                    if doc_leaves and overlaps(start, end, doc_leaves):
                        continue
                    if taken is not None:
                        j = bisect_left(taken[0], end) - 1
                        if j >= 0 and taken[1][j] > start:
                            continue
                    if part is not None and part_of_day(start.astimezone(tz)) != part:
                        continue
                    yield (start, doctor_id, branch_id, end, tz_name)

        # Each pair yields in time order, so a lazy k-way merge stops after `limit` slots
        # instead of generating and sorting every slot of every doctor (the search's hot path).
        merged = heapq.merge(*(offered(d, b) for d, b in self.pairs))
        out = list(merged if limit is None else islice(merged, limit))
        return [Candidate(doctor_id, branch_id, start, end, tz_name) for start, doctor_id, branch_id, end, tz_name in out]

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


@lru_cache(maxsize=None)
def _span_query(free_only: bool, ignore_one: bool) -> Any:
    """The date-bound rows of a span in ONE UNION ALL, built once with bound parameters.

    Everything that varies by date — date overrides, leave, holidays and (with `free_only`)
    busy time — comes back together: a search is round-trip bound, not row bound. Built
    once per variant, so no search pays for statement construction or its cache key.
    Column layout: kind, doctor_id, branch_id, day, start_time, end_time, slot_minutes,
    start_at, end_at; the first branch carries the types for the whole result.
    """
    da, lv, hd, ap = m.DateAvailability, m.Leave, m.Holiday, m.Appointment
    doctor_ids = bindparam("doctor_ids", expanding=True)
    first_day, last_day = bindparam("first_day", type_=da.day.type), bindparam("last_day", type_=da.day.type)
    span_start = bindparam("span_start", type_=lv.start_at.type)
    span_end = bindparam("span_end", type_=lv.start_at.type)
    parts: list[Any] = [
        select(kind_tag(_OVERRIDE), da.doctor_id, da.branch_id, da.day, da.start_time, da.end_time,
               da.slot_minutes, type_coerce(null(), lv.start_at.type), type_coerce(null(), lv.end_at.type))
        .where(da.doctor_id.in_(doctor_ids), da.day >= first_day, da.day <= last_day),
        select(kind_tag(_LEAVE), lv.doctor_id, null(), null(), null(), null(), null(), lv.start_at, lv.end_at)
        .where(lv.doctor_id.in_(doctor_ids), lv.start_at < span_end, lv.end_at > span_start),
        select(kind_tag(_HOLIDAY), null(), hd.branch_id, hd.day, null(), null(), null(), null(), null())
        .where(hd.org_id.in_(bindparam("org_ids", expanding=True)), hd.day >= first_day, hd.day <= last_day),
    ]
    if free_only:
        # Liveness is decided in the select list, not the WHERE clause: with a status filter
        # there, SQLite's planner picks the (status, hold_expires_at) index and walks every
        # live appointment of the clinic; this way it must use (doctor_id, start_at).
        live = case(
            (and_(ap.status.in_(live_statuses()),
                  or_(ap.status != AppointmentStatus.HELD.value,
                      ap.hold_expires_at > bindparam("now", type_=ap.hold_expires_at.type))), kind_tag(_BUSY)),
            else_=kind_tag(_NOT_LIVE),
        )
        busy_q = select(live, ap.doctor_id, null(), null(), null(), null(), null(), ap.start_at, ap.end_at).where(
            ap.doctor_id.in_(doctor_ids),
            ap.start_at >= bindparam("busy_from", type_=ap.start_at.type), ap.start_at < span_end,
            ap.end_at > span_start,
        )
        if ignore_one:
            busy_q = busy_q.where(ap.id != bindparam("ignore_id", type_=ap.id.type))
        parts.append(busy_q)
    return union_all(*parts)


def live_statuses() -> tuple[str, ...]:
    """Statuses whose appointment occupies its slot."""
    return (AppointmentStatus.HELD.value, AppointmentStatus.PENDING_PAYMENT.value,
            AppointmentStatus.CONFIRMED.value)


__all__ = ["Availability", "BranchLike", "Breaks", "Candidate", "Weekly", "kind_tag", "live_statuses",
           "weekly_query"]
