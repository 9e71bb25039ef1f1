"""Parts of day and time bounds: "morning", "evening", "after 5", "सुबह", "மாலை"."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from bot.booking.types import PartOfDay
from flows.understand.text import normalize, tokens
from flows.understand.words import AFTER_WORDS, PART_OF_DAY_WORDS

_HOUR = re.compile(r"(\d{1,2})(?::(\d{2}))?\s*(am|pm|a\.m\.|p\.m\.)?")


@dataclass(frozen=True, slots=True)
class TimeWish:
    """When in the day the patient would like to come."""

    part_of_day: PartOfDay | None = None
    after: dt.time | None = None       # local time of day


def _clock(hour: int, minute: int, meridiem: str | None) -> dt.time | None:
    if meridiem and meridiem.startswith("p") and hour < 12:
        hour += 12
    elif meridiem and meridiem.startswith("a") and hour == 12:
        hour = 0
    elif not meridiem and 1 <= hour <= 7:
        hour += 12  # clinics are not open at 5 a.m.: "after 5" means 17:00
    if not (0 <= hour <= 23 and 0 <= minute <= 59):
        return None
    return dt.time(hour, minute)


def parse_time_wish(text: str | None) -> TimeWish | None:
    """The part of day or lower time bound the text names, or None."""
    norm = normalize(text)
    if not norm:
        return None
    for word in AFTER_WORDS:
        idx = norm.find(word)
        if idx < 0:
            continue
        # "after 5" (word first) or "5 के बाद" / "5 மணிக்கு பிறகு" (word last).
        for around in (norm[idx + len(word):], norm[:idx]):
            match = _HOUR.search(around)
            if match:
                moment = _clock(int(match.group(1)), int(match.group(2) or 0), match.group(3))
                if moment:
                    return TimeWish(after=moment)
    words = tokens(norm)
    for phrase, part in PART_OF_DAY_WORDS.items():
        if (" " in phrase and phrase in norm) or phrase in words:
            return TimeWish(part_of_day=PartOfDay(part))
    return None


def part_of_day(local: dt.datetime) -> PartOfDay:
    """The part of day a local time falls in (the booking core's boundaries)."""
    if local.hour < 12:
        return PartOfDay.MORNING
    if local.hour < 17:
        return PartOfDay.AFTERNOON
    return PartOfDay.EVENING
