"""Text helpers shared by the renderers: limits are counted in Unicode code points."""

from __future__ import annotations

import unicodedata

ELLIPSIS = "…"
_JOINERS = frozenset({"\u200c", "\u200d"})  # ZWNJ / ZWJ: meaningless at a cut


def truncate(text: str, limit: int) -> str:
    """`text` cut to at most `limit` code points, ending in "…" when it was cut.

    The cut never leaves a dangling combining mark, virama or joiner (Indic scripts), so
    the visible text stays well-formed; whitespace before the ellipsis is dropped.
    """
    if limit <= 0:
        return ""
    if len(text) <= limit:
        return text
    if limit == 1:
        return ELLIPSIS
    cut = text[: limit - 1]
    # A combining mark belongs to the character before it; if the next character (the
    # first one dropped) is a mark, the last kept base is incomplete: drop it too.
    while cut and (unicodedata.category(text[len(cut)])[0] == "M" or text[len(cut)] in _JOINERS):
        cut = cut[:-1]
    while cut and (unicodedata.category(cut[-1])[0] == "M" or cut[-1] in _JOINERS):
        cut = cut[:-1]
    return cut.rstrip() + ELLIPSIS
