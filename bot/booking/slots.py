"""Pure slot arithmetic: local working ranges → UTC candidate slots, and occupancy cells.

No I/O here, so slot generation is fast (the search's hot loop) and easy to test.
Slots are laid out on the branch's wall clock and converted to UTC one by one, so a
09:00 slot stays 09:00 local across a DST change; local times that do not exist (the
skipped hour) are dropped.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from zoneinfo import ZoneInfo

from bot.booking.models import CELL_MINUTES
from bot.booking.types import PartOfDay

UTC = dt.timezone.utc
_CELL = dt.timedelta(minutes=CELL_MINUTES)
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=UTC)


@lru_cache(maxsize=256)
def zone(name: str) -> ZoneInfo:
    """A cached ZoneInfo (constructing one is comparatively slow)."""
    return ZoneInfo(name)


@dataclass(frozen=True, slots=True)
class WorkRange:
    """A local working range on one day with its slot step."""

    start: dt.time
    end: dt.time
    slot_minutes: int


def floor_cell(moment: dt.datetime) -> dt.datetime:
    """The start of the 5-minute cell containing `moment` (UTC)."""
    seconds = int((moment - _EPOCH).total_seconds())
    step = CELL_MINUTES * 60
    return _EPOCH + dt.timedelta(seconds=seconds - seconds % step)


def cells_for(start: dt.datetime, end: dt.datetime) -> list[dt.datetime]:
    """Every cell start covered by [start, end), rounded outwards."""
    cells: list[dt.datetime] = []
    cell = floor_cell(start)
    while cell < end:
        cells.append(cell)
        cell += _CELL
    return cells


def local_to_utc(day: dt.date, at: dt.time, tz: ZoneInfo) -> dt.datetime | None:
    """The UTC instant of a local wall-clock time, or None when that time does not exist (DST gap)."""
    local = dt.datetime.combine(day, at, tzinfo=tz)
    utc = local.astimezone(UTC)
    back = utc.astimezone(tz)
    if back.replace(tzinfo=None) != local.replace(tzinfo=None):
        return None
    return utc


def part_of_day(local: dt.datetime) -> PartOfDay:
    """Morning before 12:00, afternoon 12:00–17:00, evening from 17:00 (local)."""
    if local.hour < 12:
        return PartOfDay.MORNING
    if local.hour < 17:
        return PartOfDay.AFTERNOON
    return PartOfDay.EVENING


def _minutes(t: dt.time) -> int:
    return t.hour * 60 + t.minute


def candidate_slots(
    day: dt.date, tz: ZoneInfo, ranges: Iterable[WorkRange], breaks: Sequence[tuple[dt.time, dt.time]],
    duration_min: int | None,
) -> list[tuple[dt.datetime, dt.datetime]]:
    """UTC (start, end) of every slot of one local day, before occupancy is considered.

    Starts step by the range's slot length; a slot lasts `duration_min` (default: the slot
    length) and must end inside its range and not touch a break.
    """
    offsets = _day_offsets(tuple(ranges), tuple(breaks), duration_min)
    # Fast path (the search's hot loop): on a day without a clock change, local minute m is
    # simply midnight-UTC-of-the-day minus the offset plus m.
    steady = _steady_offset(day, tz)
    if steady is not None:
        base = dt.datetime.combine(day, dt.time(0), tzinfo=UTC) - steady
        return [(base + a, base + b) for a, b in offsets]
    out: list[tuple[dt.datetime, dt.datetime]] = []
    for a, b in offsets:
        minute = int(a.total_seconds()) // 60
        start = local_to_utc(day, dt.time(minute // 60, minute % 60), tz)
        if start is not None:
            out.append((start, start + (b - a)))
    out.sort()
    return out


@lru_cache(maxsize=4096)
def _day_offsets(ranges: tuple[WorkRange, ...], breaks: tuple[tuple[dt.time, dt.time], ...],
                 duration_min: int | None) -> tuple[tuple[dt.timedelta, dt.timedelta], ...]:
    """(start, end) of each slot as offsets from local midnight, sorted; pure, so cached.

    A clinic has few distinct weekly patterns, so the stepping and break checks run once
    per pattern instead of once per doctor and day.
    """
    out: list[tuple[int, int]] = []
    break_mins = [(_minutes(a), _minutes(b)) for a, b in breaks]
    for rng in ranges:
        step = max(rng.slot_minutes, 1)
        length = duration_min or step
        first, last = _minutes(rng.start), _minutes(rng.end) if rng.end != dt.time(0) else 24 * 60
        m = first
        while m + length <= last:
            if m < 24 * 60 and not any(m < b_end and m + length > b_start for b_start, b_end in break_mins):
                out.append((m, m + length))
            m += step
    out.sort()
    return tuple((dt.timedelta(minutes=a), dt.timedelta(minutes=b)) for a, b in out)


def _steady_offset(day: dt.date, tz: ZoneInfo) -> dt.timedelta | None:
    """The zone's UTC offset on `day` when it is the same all day long, else None (DST change)."""
    first = dt.datetime.combine(day, dt.time(0), tzinfo=tz).utcoffset()
    last = dt.datetime.combine(day, dt.time(23, 59, 59), tzinfo=tz).utcoffset()
    nxt = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(0), tzinfo=tz).utcoffset()
    if first is None or first != last or last != nxt:
        return None
    return first


def overlaps(start: dt.datetime, end: dt.datetime, spans: Iterable[tuple[dt.datetime, dt.datetime]]) -> bool:
    """Whether [start, end) overlaps any of the spans."""
    return any(start < s_end and end > s_start for s_start, s_end in spans)


def local_day_bounds(day: dt.date, tz: ZoneInfo) -> tuple[dt.datetime, dt.datetime]:
    """UTC instants of local midnight at the start and end of `day`."""
    start = dt.datetime.combine(day, dt.time(0), tzinfo=tz).astimezone(UTC)
    end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(0), tzinfo=tz).astimezone(UTC)
    return start, end
