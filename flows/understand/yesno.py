"""Yes / no words in en, hi, ta."""

from __future__ import annotations

from flows.understand.text import normalize
from flows.understand.words import NO_WORDS, YES_WORDS


def yes_no(text: str | None) -> bool | None:
    """True for a yes word, False for a no word, None when it is neither."""
    norm = normalize(text)
    if norm in YES_WORDS:
        return True
    if norm in NO_WORDS:
        return False
    return None
