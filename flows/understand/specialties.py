"""Specialties from lay words: "skin doc" -> dermatology (synonyms, then fuzzy)."""

from __future__ import annotations

from rapidfuzz import fuzz, process

from flows.understand.text import normalize, tokens
from flows.understand.words import SPECIALTY_SYNONYMS

FUZZY_CUTOFF = 80.0


def match_specialty(text: str | None, offered: list[str]) -> str | None:
    """The offered specialty slug the text means, or None."""
    norm = normalize(text)
    if not norm or not offered:
        return None
    if norm in SPECIALTY_SYNONYMS and SPECIALTY_SYNONYMS[norm] in offered:
        return SPECIALTY_SYNONYMS[norm]
    for word in tokens(norm):
        slug = SPECIALTY_SYNONYMS.get(word)
        if slug in offered:
            return slug
    labels = {slug: slug.replace("_", " ") for slug in offered}
    best = process.extractOne(norm, labels, scorer=fuzz.WRatio, score_cutoff=FUZZY_CUTOFF)
    if best:
        return best[2]
    # "dermatologist" vs "dermatology", a typo in one word of a longer sentence.
    for word in tokens(norm):
        if len(word) < 4:
            continue
        best = process.extractOne(word, labels, scorer=fuzz.ratio, score_cutoff=FUZZY_CUTOFF)
        if best:
            return best[2]
    return None
