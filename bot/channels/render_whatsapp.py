"""Abstract replies → WhatsApp Cloud API message objects (the body minus `to`).

Meta's limits (counted in characters = code points) are applied here, never left to
Meta to reject: list ≤ 10 rows, row title ≤ 24, description ≤ 72, list button ≤ 20,
reply buttons ≤ 3 with titles ≤ 20, body ≤ 1024 for interactive and 4096 for text.
"""

from __future__ import annotations

from typing import Any

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

TEXT_BODY_MAX = 4096
INTERACTIVE_BODY_MAX = 1024
HEADER_TEXT_MAX = 60
FOOTER_MAX = 60
LIST_BUTTON_MAX = 20
LIST_ROWS_MAX = 10
ROW_TITLE_MAX = 24
ROW_DESCRIPTION_MAX = 72
ROW_ID_MAX = 200
REPLY_BUTTONS_MAX = 3
REPLY_BUTTON_TITLE_MAX = 20
REPLY_BUTTON_ID_MAX = 256
LOCATION_NAME_MAX = 1000


def to_whatsapp(reply: Reply) -> dict[str, Any]:
    """The Graph API message object for `reply`: `{"type": …, <type>: {…}}`."""
    if isinstance(reply, Text | Handoff):
        return _text(reply.body)
    if isinstance(reply, Choices):
        return _list(reply)
    if isinstance(reply, Buttons):
        return _buttons(reply)
    if isinstance(reply, PaymentRequest):
        # A plain link works on every client and in every template-free window; the
        # preview shows the payment page's title so the patient sees where it goes.
        return _text(f"{truncate(reply.body, TEXT_BODY_MAX - len(reply.url) - 2)}\n\n{reply.url}", preview=True)
    if isinstance(reply, Location):
        return {
            "type": "location",
            "location": {
                "latitude": reply.latitude,
                "longitude": reply.longitude,
                "name": truncate(reply.name, LOCATION_NAME_MAX),
                "address": truncate(reply.address, LOCATION_NAME_MAX),
            },
        }
    if isinstance(reply, Template):
        template: dict[str, Any] = {"name": reply.name, "language": {"code": reply.language}}
        if reply.components:
            template["components"] = [dict(c) for c in reply.components]
        return {"type": "template", "template": template}
    raise TypeError(f"cannot render {type(reply).__name__} for WhatsApp")


def _text(body: str, *, preview: bool = False) -> dict[str, Any]:
    return {"type": "text", "text": {"body": truncate(body, TEXT_BODY_MAX), "preview_url": preview}}


def _unique_titles(options: tuple[Option, ...], limit: int) -> list[str]:
    """Truncated titles, made distinct (Meta rejects duplicate button titles)."""
    titles: list[str] = []
    for index, option in enumerate(options, start=1):
        title = truncate(option.title.strip() or str(index), limit)
        if title in titles:
            suffix = f" {index}"
            title = truncate(option.title, limit - len(suffix)) + suffix
        titles.append(title)
    return titles


def _list(reply: Choices) -> dict[str, Any]:
    options = reply.options[:LIST_ROWS_MAX]
    rows = []
    for option, title in zip(options, _unique_titles(options, ROW_TITLE_MAX), strict=True):
        row: dict[str, Any] = {"id": option.id[:ROW_ID_MAX], "title": title}
        if option.description:
            row["description"] = truncate(option.description, ROW_DESCRIPTION_MAX)
        rows.append(row)
    interactive: dict[str, Any] = {
        "type": "list",
        "body": {"text": truncate(reply.body, INTERACTIVE_BODY_MAX)},
        # One section needs no section title (Meta requires titles only with several).
        "action": {"button": truncate(reply.button.strip() or "Choose", LIST_BUTTON_MAX), "sections": [{"rows": rows}]},
    }
    if reply.header:
        interactive["header"] = {"type": "text", "text": truncate(reply.header, HEADER_TEXT_MAX)}
    if reply.footer:
        interactive["footer"] = {"text": truncate(reply.footer, FOOTER_MAX)}
    return {"type": "interactive", "interactive": interactive}


def _buttons(reply: Buttons) -> dict[str, Any]:
    options = reply.options[:REPLY_BUTTONS_MAX]
    buttons = [
        {"type": "reply", "reply": {"id": option.id[:REPLY_BUTTON_ID_MAX], "title": title}}
        for option, title in zip(options, _unique_titles(options, REPLY_BUTTON_TITLE_MAX), strict=True)
    ]
    interactive: dict[str, Any] = {
        "type": "button",
        "body": {"text": truncate(reply.body, INTERACTIVE_BODY_MAX)},
        "action": {"buttons": buttons},
    }
    if reply.footer:
        interactive["footer"] = {"text": truncate(reply.footer, FOOTER_MAX)}
    return {"type": "interactive", "interactive": interactive}
