"""The pure quiet-hours and reminder-time rules (branch-local, returned in UTC)."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from workers.timing import QuietHours, allowed_now, parse_hhmm, reminder_send_time

IST = ZoneInfo("Asia/Kolkata")
SYD = ZoneInfo("Australia/Sydney")
H24 = dt.timedelta(hours=24)
H2 = dt.timedelta(hours=2)


def ist(y: int, m: int, d: int, hh: int, mm: int = 0) -> dt.datetime:
    return dt.datetime(y, m, d, hh, mm, tzinfo=IST)


def local(moment: dt.datetime | None, zone: ZoneInfo = IST) -> dt.datetime | None:
    return None if moment is None else moment.astimezone(zone).replace(tzinfo=None)


def test_plain_reminders_go_at_their_offset():
    start = ist(2026, 11, 25, 15, 30)
    assert local(reminder_send_time(start, H24, "Asia/Kolkata")) == dt.datetime(2026, 11, 24, 15, 30)
    assert local(reminder_send_time(start, H2, "Asia/Kolkata")) == dt.datetime(2026, 11, 25, 13, 30)
    assert reminder_send_time(start, H2, "Asia/Kolkata").tzinfo == dt.timezone.utc


@pytest.mark.parametrize(
    ("slot", "expected"),
    [
        # 24 h reminder due at 22:30 → 20:59 that evening
        (ist(2026, 11, 25, 22, 30), dt.datetime(2026, 11, 24, 20, 59)),
        # 24 h reminder due at 07:00 → 20:59 the evening before it
        (ist(2026, 11, 25, 7, 0), dt.datetime(2026, 11, 23, 20, 59)),
        # due exactly at 21:00 is inside quiet hours
        (ist(2026, 11, 25, 21, 0), dt.datetime(2026, 11, 24, 20, 59)),
        # due at 08:00 is outside
        (ist(2026, 11, 25, 8, 0), dt.datetime(2026, 11, 24, 8, 0)),
    ],
)
def test_day_before_reminder_inside_quiet_hours_goes_at_2059(slot, expected):
    assert local(reminder_send_time(slot, H24, "Asia/Kolkata")) == expected


@pytest.mark.parametrize(
    ("slot", "expected"),
    [
        (ist(2026, 11, 25, 9, 0), dt.datetime(2026, 11, 25, 8, 0)),    # 60 min ahead
        (ist(2026, 11, 25, 8, 30), dt.datetime(2026, 11, 25, 8, 0)),   # exactly 30 min ahead
        (ist(2026, 11, 25, 8, 29), None),                              # 29 min: skipped
        (ist(2026, 11, 25, 7, 0), None),                               # 08:00 is after the slot
        (ist(2026, 11, 25, 10, 0), dt.datetime(2026, 11, 25, 8, 0)),   # due 08:00: not quiet
        (ist(2026, 11, 25, 23, 30), dt.datetime(2026, 11, 25, 20, 59)),  # evening part → 20:59
    ],
)
def test_two_hour_reminder_for_early_slot(slot, expected):
    assert local(reminder_send_time(slot, H2, "Asia/Kolkata")) == expected


def test_booked_after_the_reminder_time_skips_it():
    slot = ist(2026, 11, 25, 15, 0)
    booked = ist(2026, 11, 24, 18, 0)  # after the 24 h time, before the 2 h time
    assert reminder_send_time(slot, H24, "Asia/Kolkata", booked_at=booked.astimezone(dt.timezone.utc)) is None
    assert reminder_send_time(slot, H2, "Asia/Kolkata", booked_at=booked) is not None
    # booked at 20:00 for a 22:30 slot: the 24 h reminder moved to 20:59 the evening before is long past
    assert reminder_send_time(ist(2026, 11, 25, 22, 30), H24, "Asia/Kolkata", booked_at=ist(2026, 11, 25, 20, 0)) is None


def test_configurable_quiet_hours_and_other_zones():
    quiet = QuietHours(parse_hhmm("22:00"), parse_hhmm("07:00"))
    slot = ist(2026, 11, 25, 21, 30)
    assert local(reminder_send_time(slot, H24, "Asia/Kolkata", quiet=quiet)) == dt.datetime(2026, 11, 24, 21, 30)
    # Sydney across the DST start (4 Oct 2026, 02:00 → 03:00): wall-clock 20:59 on the evening before
    slot = dt.datetime(2026, 10, 5, 7, 0, tzinfo=SYD)
    assert local(reminder_send_time(slot, H24, "Australia/Sydney"), SYD) == dt.datetime(2026, 10, 3, 20, 59)


def test_allowed_now_waits_for_the_morning():
    assert local(allowed_now(ist(2026, 11, 25, 23, 10), "Asia/Kolkata")) == dt.datetime(2026, 11, 26, 8, 0)
    assert local(allowed_now(ist(2026, 11, 25, 3, 10), "Asia/Kolkata")) == dt.datetime(2026, 11, 25, 8, 0)
    assert local(allowed_now(ist(2026, 11, 25, 12, 10), "Asia/Kolkata")) == dt.datetime(2026, 11, 25, 12, 10)


def test_quiet_hours_not_spanning_midnight():
    quiet = QuietHours(dt.time(0, 0), dt.time(6, 0))
    assert quiet.contains(ist(2026, 1, 1, 5, 59))
    assert not quiet.contains(ist(2026, 1, 1, 6, 0))
    assert local(reminder_send_time(ist(2026, 1, 2, 5, 0), H24, "Asia/Kolkata", quiet=quiet)) == dt.datetime(2025, 12, 31, 23, 59)
