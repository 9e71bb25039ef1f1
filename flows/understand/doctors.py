"""Doctor names: "dr mehta", "Mehta ji", "anita" matched fuzzily against names."""

from __future__ import annotations

from collections.abc import Sequence

from rapidfuzz import fuzz

from bot.booking.types import DoctorView
from flows.understand.text import normalize, tokens
from flows.understand.words import DOCTOR_NOISE_WORDS

NAME_CUTOFF = 80.0


def name_query(text: str | None) -> str:
    """The text without "dr", "doctor", "ji"…: what is left to match against names."""
    return " ".join(w for w in tokens(normalize(text)) if w not in DOCTOR_NOISE_WORDS)


def name_score(query: str, doctor: DoctorView) -> float:
    """How well a name query fits this doctor (0-100): each query word against each name part."""
    parts = [p for p in normalize(f"{doctor.first_name} {doctor.last_name}").split() if p]
    words = query.split()
    if not words or not parts:
        return 0.0
    whole = fuzz.token_set_ratio(query, " ".join(parts))
    per_word = min(max(fuzz.ratio(w, p) for p in parts) for w in words)
    return max(whole if len(words) > 1 else 0.0, per_word)


def match_doctors(text: str | None, doctors: Sequence[DoctorView]) -> list[DoctorView]:
    """The doctors whose name the text means, best first (empty when none fits)."""
    query = name_query(text)
    if not query:
        return []
    scored = [(name_score(query, d), d) for d in doctors]
    good = sorted((s for s in scored if s[0] >= NAME_CUTOFF), key=lambda s: -s[0])
    return [d for _, d in good]
