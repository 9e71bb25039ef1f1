"""Abstract replies → SMS text: numbered menus that fit in one or two segments.

The patient answers a menu with its number ("2"), never with a word: on SMS the exact
words STOP, CANCEL, END, QUIT, UNSUBSCRIBE, STOPALL, REVOKE and OPTOUT are opt-outs for
carriers and Twilio, so no rendering here ever invites them.
"""

from __future__ import annotations

import re

from bot.channels.sms import OPT_OUT_WORDS
from bot.channels.text import truncate
from bot.messages import (
    Buttons,
    Choices,
    Handoff,
    Location,
    Option,
    PaymentRequest,
    Reply,
    Template,
    Text,
)

# GSM 03.38 basic character set, and the extension table (each costs two septets).
_GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM7_EXTENDED = frozenset("^{}\\[~]|€\f")
GSM7 = "GSM-7"
UCS2 = "UCS-2"
TARGET_SEGMENTS = 2
OPTION_TITLE_MAX = 40

# Typographic characters our texts use, and their GSM-7 look-alikes. One of them alone
# would switch a whole English SMS to UCS-2 (70 instead of 160 characters a segment).
# "₹" is deliberately absent: amounts keep their symbol unless formatted otherwise.
_TYPOGRAPHIC = str.maketrans({
    "\u2014": "-",      # — em dash
    "\u2013": "-",      # – en dash
    "\u2012": "-", "\u2010": "-", "\u2011": "-", "\u2212": "-",
    "\u2026": "...",    # … ellipsis
    "\u00b7": "-",      # · middle dot (list separators)
    "\u2022": "-",      # • bullet
    "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u2032": "'",
    "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u2033": '"',
    "\u00a0": " ", "\u202f": " ", "\u2009": " ", "\u2007": " ", "\u200a": " ",
    "\u200b": "", "\u2060": "", "\ufeff": "",
    "\u00d7": "x",      # × multiplication sign
})

_INVITE = re.compile(
    r"\b(reply|text|send|type|sms|write)\b\W{0,3}(with\s+)?[\"'“‘]?(" + "|".join(sorted(OPT_OUT_WORDS)) + r")\b",
    re.IGNORECASE,
)


def segments(text: str) -> tuple[int, str]:
    """How many SMS segments `text` takes and in which encoding ("GSM-7" or "UCS-2").

    GSM-7: 160 septets in one segment, 153 per segment when split; UCS-2 (any character
    outside GSM-7, e.g. "₹", Devanagari, Tamil, emoji): 70 UTF-16 units, 67 when split.
    """
    if _is_gsm7(text):
        units = sum(2 if c in _GSM7_EXTENDED else 1 for c in text)
        single, multi, encoding = 160, 153, GSM7
    else:
        units = len(text.encode("utf-16-le")) // 2
        single, multi, encoding = 70, 67, UCS2
    if units <= single:
        return (1 if units else 0), encoding
    return -(-units // multi), encoding


def _is_gsm7(text: str) -> bool:
    return all(c in _GSM7_BASIC or c in _GSM7_EXTENDED for c in text)


def gsm7_friendly(text: str) -> str:
    """`text` with typographic characters replaced by GSM-7 look-alikes, when that makes
    it all GSM-7; otherwise `text` unchanged (UCS-2 shows them anyway, and a Hindi or
    Tamil message keeps its real punctuation)."""
    plain = text.translate(_TYPOGRAPHIC)
    return plain if plain != text and _is_gsm7(plain) else text


def invites_opt_out(text: str) -> bool:
    """True when `text` asks the reader to send an opt-out word ("reply CANCEL…")."""
    return bool(_INVITE.search(text))


def to_sms(reply: Reply) -> str:
    """The SMS text for `reply`: GSM-7 whenever only typographic characters stood in the way."""
    return gsm7_friendly(_text(reply))


def _text(reply: Reply) -> str:
    if isinstance(reply, Text | Handoff):
        return reply.body
    if isinstance(reply, Choices | Buttons):
        return _menu(reply.body, reply.options, reply.footer)
    if isinstance(reply, PaymentRequest):
        return f"{reply.body}\n{reply.url}"
    if isinstance(reply, Location):
        return f"{reply.name}, {reply.address}\nhttps://maps.google.com/?q={reply.latitude:.6f},{reply.longitude:.6f}"
    if isinstance(reply, Template):
        return reply.fallback_text
    raise TypeError(f"cannot render {type(reply).__name__} for SMS")


def _menu(body: str, options: tuple[Option, ...], footer: str | None) -> str:
    """Body, then one numbered line per option; shed detail until it fits two segments."""

    def lines(with_descriptions: bool, title_max: int) -> list[str]:
        out = []
        for number, option in enumerate(options, start=1):
            line = f"{number} {truncate(option.title.strip(), title_max)}"
            if with_descriptions and option.description:
                line += f" - {option.description.strip()}"
            out.append(line)
        return out

    candidates = [
        (True, OPTION_TITLE_MAX, footer),
        (False, OPTION_TITLE_MAX, footer),
        (False, OPTION_TITLE_MAX, None),
        (False, 24, None),
        (False, 16, None),
    ]
    longest = max((len(o.title.strip()) for o in options), default=0)
    readable = ""
    for with_descriptions, title_max, foot in candidates:
        parts = [body.strip(), *lines(with_descriptions, title_max)]
        if foot:
            parts.append(foot.strip())
        text = "\n".join(p for p in parts if p)
        if segments(gsm7_friendly(text))[0] <= TARGET_SEGMENTS:
            return text
        if title_max >= longest:
            readable = text
    # Nothing fits: cut titles only as far as that helps. A cut that still leaves the text
    # over the target costs the patient the option's meaning ("9:0…" is 9:00 or 9:05?)
    # and saves little, so send the most compact form whose titles are whole.
    return readable or text
