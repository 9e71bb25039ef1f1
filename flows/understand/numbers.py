"""Option numbers: "2", "२", "#2", "option 2"."""

from __future__ import annotations

import re

from flows.understand.text import normalize

_NUMBER = re.compile(r"^(?:#|no\.?\s*|option\s*)?(\d{1,2})$")


def option_number(text: str | None) -> int | None:
    """The 1-based option number the text names, or None."""
    match = _NUMBER.match(normalize(text))
    return int(match.group(1)) if match else None
