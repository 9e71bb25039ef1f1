"""Dates in free text: "today", "tomorrow", "friday", "12 dec", "next week",
"आज/कल/परसों", "இன்று/நாளை", "12/12", with Devanagari and Tamil digits."""

from __future__ import annotations

import datetime as dt
import re

from flows.understand.text import normalize, tokens
from flows.understand.words import MONTHS, NEXT_WEEK_WORDS, RELATIVE_DAYS, WEEKDAYS

_DAY_MONTH = re.compile(r"\b(\d{1,2})(?:st|nd|rd|th)?\s+(?:of\s+)?([^\d\s]+)")
_MONTH_DAY = re.compile(r"([^\d\s]+)\s+(\d{1,2})(?:st|nd|rd|th)?\b")
_NUMERIC = re.compile(r"\b(\d{1,2})[/\-.](\d{1,2})(?:[/\-.](\d{2,4}))?\b")
_ISO = re.compile(r"\b(\d{4})-(\d{2})-(\d{2})\b")


def _future(day: int, month: int, today: dt.date, year: int | None = None) -> dt.date | None:
    """The date with this day and month, this year or (when already past) next year."""
    try:
        if year is not None:
            return dt.date(year if year > 99 else 2000 + year, month, day)
        candidate = dt.date(today.year, month, day)
        return candidate if candidate >= today else dt.date(today.year + 1, month, day)
    except ValueError:
        return None


def parse_date(text: str | None, today: dt.date) -> dt.date | None:
    """The local date the text names, relative to `today`; None when it names none.

    "next week" is the Monday of next week; a bare weekday is its next occurrence
    (today counts)."""
    norm = normalize(text)
    if not norm:
        return None
    if any(phrase in norm for phrase in NEXT_WEEK_WORDS):
        return today + dt.timedelta(days=7 - today.weekday())
    # Longest phrases first so "day after tomorrow" beats "tomorrow".
    for phrase in sorted(RELATIVE_DAYS, key=len, reverse=True):
        if " " in phrase and phrase in norm:
            return today + dt.timedelta(days=RELATIVE_DAYS[phrase])
    words = tokens(norm)
    for word in words:
        if word in RELATIVE_DAYS:
            return today + dt.timedelta(days=RELATIVE_DAYS[word])
    if match := _ISO.search(norm):
        try:
            return dt.date(int(match.group(1)), int(match.group(2)), int(match.group(3)))
        except ValueError:
            return None
    if match := _DAY_MONTH.search(norm):
        month = MONTHS.get(match.group(2).strip("."))
        if month:
            return _future(int(match.group(1)), month, today)
    if match := _MONTH_DAY.search(norm):
        month = MONTHS.get(match.group(1).strip("."))
        if month:
            return _future(int(match.group(2)), month, today)
    if match := _NUMERIC.search(norm):
        # Indian usage: day/month[/year].
        year = int(match.group(3)) if match.group(3) else None
        return _future(int(match.group(1)), int(match.group(2)), today, year)
    for word in words:
        if word in WEEKDAYS:
            return today + dt.timedelta(days=(WEEKDAYS[word] - today.weekday()) % 7)
    return None
