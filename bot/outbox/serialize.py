"""Abstract replies (bot/messages.py) to JSON-ready dicts and back.

Outbound rows store the reply as JSON so a worker in another process (or after a
restart) renders exactly what the flow decided.
"""

from __future__ import annotations

from typing import Any

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

_TYPES: dict[str, type] = {
    "text": Text,
    "choices": Choices,
    "buttons": Buttons,
    "payment_request": PaymentRequest,
    "location": Location,
    "handoff": Handoff,
    "template": Template,
}
_NAMES: dict[type, str] = {cls: name for name, cls in _TYPES.items()}


class ReplyFormatError(ValueError):
    """A stored reply cannot be turned back into a reply object."""


def _option_to_dict(option: Option) -> dict[str, Any]:
    return {"id": option.id, "title": option.title, "description": option.description}


def reply_to_dict(reply: Reply) -> dict[str, Any]:
    """A JSON-serializable dict for `reply`, tagged with its type."""
    name = _NAMES.get(type(reply))
    if name is None:
        raise ReplyFormatError(f"not a reply type: {type(reply).__name__}")
    data: dict[str, Any] = {"type": name}
    for field_name in reply.__dataclass_fields__:  # type: ignore[union-attr]
        value = getattr(reply, field_name)
        if field_name == "options":
            value = [_option_to_dict(o) for o in value]
        elif field_name == "params":
            value = dict(value)
        elif field_name == "components":
            value = list(value)
        data[field_name] = value
    return data


def reply_from_dict(data: dict[str, Any]) -> Reply:
    """The reply object `reply_to_dict` was given (round-trips every reply type)."""
    try:
        cls = _TYPES[data["type"]]
    except KeyError as exc:
        raise ReplyFormatError(f"unknown reply type: {data.get('type')!r}") from exc
    kwargs = {k: v for k, v in data.items() if k != "type"}
    if "options" in kwargs:
        kwargs["options"] = tuple(Option(**o) for o in kwargs["options"])
    if "components" in kwargs:
        kwargs["components"] = tuple(kwargs["components"])
    try:
        return cls(**kwargs)  # type: ignore[no-any-return]
    except TypeError as exc:
        raise ReplyFormatError(str(exc)) from exc
