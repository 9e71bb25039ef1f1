"""Normalization shared by every parser: case, whitespace, punctuation, native digits."""

from __future__ import annotations

import re
import unicodedata

# Devanagari ०-९ (U+0966…) and Tamil ௦-௯ (U+0BE6…) digits read as ASCII.
_DIGITS = {**{0x0966 + i: str(i) for i in range(10)}, **{0x0BE6 + i: str(i) for i in range(10)}}
_EDGE_PUNCT = " \t\r\n.,!?;:'\"()[]{}…।"
_SPACES = re.compile(r"\s+")


def ascii_digits(text: str) -> str:
    """Turn Devanagari and Tamil digits into ASCII ones ("१२" -> "12")."""
    return text.translate(_DIGITS)


def normalize(text: str | None) -> str:
    """Case-folded, NFC, native digits as ASCII, single spaces, edge punctuation trimmed."""
    if not text:
        return ""
    text = unicodedata.normalize("NFC", ascii_digits(text)).casefold()
    text = _SPACES.sub(" ", text).strip(_EDGE_PUNCT)
    return text


def tokens(text: str) -> list[str]:
    """Words of a normalized text, punctuation inside dropped (keeps Indic combining marks)."""
    return [w for w in re.split(r"[\s,.;:!?/()\-]+", text) if w]
