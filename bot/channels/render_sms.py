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

_INVITE = re.compile(
    r"\b(reply|text|send|type|sms|write)\b\W{0,3}(with\s+)?[\"'“‘]?(" + "|".join(sorted(OPT_OUT_WORDS)) + r")\b",
    re.IGNORECASE,
)


def segments(text: str) -> tuple[int, str]:
    """How many SMS segments `text` takes and in which encoding ("GSM-7" or "UCS-2").

    GSM-7: 160 septets in one segment, 153 per segment when split; UCS-2 (any character
    outside GSM-7, e.g. "₹", Devanagari, Tamil, emoji): 70 UTF-16 units, 67 when split.
    """
    if all(c in _GSM7_BASIC or c in _GSM7_EXTENDED for c in text):
        units = sum(2 if c in _GSM7_EXTENDED else 1 for c in text)
        single, multi, encoding = 160, 153, GSM7
    else:
        units = len(text.encode("utf-16-le")) // 2
        single, multi, encoding = 70, 67, UCS2
    if units <= single:
        return (1 if units else 0), encoding
    return -(-units // multi), encoding


def invites_opt_out(text: str) -> bool:
    """True when `text` asks the reader to send an opt-out word ("reply CANCEL…")."""
    return bool(_INVITE.search(text))


def to_sms(reply: Reply) -> str:
    """The SMS text for `reply`."""
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
    text = ""
    for with_descriptions, title_max, foot in candidates:
        parts = [body.strip(), *lines(with_descriptions, title_max)]
        if foot:
            parts.append(foot.strip())
        text = "\n".join(p for p in parts if p)
        if segments(text)[0] <= TARGET_SEGMENTS:
            return text
    return text  # the most compact form; a long body is the flow's to shorten
