"""Pure rules for *when* a business-initiated message may go out (no I/O, no clock).

Quiet hours are branch-local (default 21:00–08:00). A reminder due inside them goes at
20:59 the evening before — except a same-day reminder (e.g. the 2-hour one) whose nominal
time falls in the early-morning part of the quiet period: it goes when quiet hours end
(08:00) if that is still at least `min_lead` before the appointment, else it is skipped.
Everything is computed in the branch's zone and returned in UTC.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

UTC = dt.timezone.utc

# A reminder whose offset is at most this is "same-day": moving it to the evening before
# would make it as early as the day-before reminder, so it goes in the morning instead.
SAME_DAY_MAX_OFFSET = dt.timedelta(hours=12)
# The morning send must leave the patient this much time before the visit.
DEFAULT_MIN_LEAD = dt.timedelta(minutes=30)


def parse_hhmm(value: str) -> dt.time:
    """'21:00' → time(21, 0); raises ValueError on anything else."""
    hours, minutes = value.strip().split(":")
    return dt.time(int(hours), int(minutes))


@dataclass(frozen=True, slots=True)
class QuietHours:
    """A nightly quiet period [start, end) in a branch's local time (it may span midnight)."""

    start: dt.time = dt.time(21, 0)
    end: dt.time = dt.time(8, 0)

    def contains(self, local: dt.datetime) -> bool:
        """Whether a branch-local moment falls inside the quiet period."""
        t = local.time().replace(tzinfo=None)
        if self.start == self.end:
            return False
        if self.start < self.end:
            return self.start <= t < self.end
        return t >= self.start or t < self.end

    def in_morning_part(self, local: dt.datetime) -> bool:
        """Inside quiet hours and after midnight (the part that ends this same day)."""
        t = local.time().replace(tzinfo=None)
        if self.start < self.end:
            return self.contains(local)
        return self.contains(local) and t < self.end

    def evening_before(self, local: dt.datetime) -> dt.datetime:
        """One minute before the quiet period that contains `local` began (e.g. 20:59)."""
        day = local.date()
        if self.start > self.end and local.time().replace(tzinfo=None) < self.end:
            day -= dt.timedelta(days=1)  # early morning: the period began the previous evening
        began = _local_at(day, self.start, local.tzinfo)
        return began - dt.timedelta(minutes=1)

    def morning_end(self, local: dt.datetime) -> dt.datetime:
        """When the quiet period containing `local` (in its morning part) ends."""
        return _local_at(local.date(), self.end, local.tzinfo)

    def next_allowed(self, local: dt.datetime) -> dt.datetime:
        """`local` itself when allowed, else the end of the quiet period containing it."""
        if not self.contains(local):
            return local
        day = local.date()
        if self.start > self.end and local.time().replace(tzinfo=None) >= self.start:
            day += dt.timedelta(days=1)
        return _local_at(day, self.end, local.tzinfo)


def _local_at(day: dt.date, at: dt.time, tz: dt.tzinfo | None) -> dt.datetime:
    # Wall-clock construction through zoneinfo: correct across DST changes.
    return dt.datetime.combine(day, at, tzinfo=tz)


def reminder_send_time(
    start: dt.datetime,
    offset: dt.timedelta,
    timezone: str,
    *,
    quiet: QuietHours = QuietHours(),
    booked_at: dt.datetime | None = None,
    min_lead: dt.timedelta = DEFAULT_MIN_LEAD,
) -> dt.datetime | None:
    """When the reminder `offset` before an appointment at `start` goes out (aware UTC),
    or None when it is skipped.

    Skipped: the appointment was booked at or after the reminder's (adjusted) time, the
    adjusted time is not before the appointment, or a same-day reminder cannot go in the
    morning with `min_lead` to spare.
    """
    if start.tzinfo is None:
        raise ValueError("start must be timezone-aware")
    zone = ZoneInfo(timezone)
    local_start = start.astimezone(zone)
    nominal = (start - offset).astimezone(zone)
    send_local = nominal
    if quiet.contains(nominal):
        if offset <= SAME_DAY_MAX_OFFSET and quiet.in_morning_part(nominal):
            morning = quiet.morning_end(nominal)
            if local_start - morning < min_lead:
                return None
            send_local = morning
        else:
            send_local = quiet.evening_before(nominal)
    send_at = send_local.astimezone(UTC)
    if send_at >= start.astimezone(UTC):
        return None
    if booked_at is not None and booked_at >= send_at:
        return None
    return send_at


def allowed_now(now: dt.datetime, timezone: str, quiet: QuietHours = QuietHours()) -> dt.datetime:
    """The earliest moment at or after `now` outside quiet hours (aware UTC): ASAP offers,
    hold notices and other prompt messages wait for the morning rather than wake anyone."""
    local = now.astimezone(ZoneInfo(timezone))
    return quiet.next_allowed(local).astimezone(UTC)
