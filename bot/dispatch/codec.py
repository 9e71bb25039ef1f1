"""Inbound messages to bytes and back, for the per-user Redis FIFO."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from typing import Any

from bot.messages import Channel, Inbound, InboundKind


def encode(org_id: int, inbound: Inbound) -> bytes:
    """A compact JSON form of (org, inbound)."""
    data: dict[str, Any] = {}
    for f in dataclasses.fields(inbound):
        value = getattr(inbound, f.name)
        if value is None:
            continue
        if isinstance(value, dt.datetime):
            value = value.isoformat()
        data[f.name] = value
    return json.dumps({"org": org_id, "in": data}, separators=(",", ":")).encode()


def decode(raw: bytes) -> tuple[int, Inbound]:
    """The (org id, inbound) that `encode` was given."""
    body = json.loads(raw)
    data = dict(body["in"])
    data["channel"] = Channel(data["channel"])
    data["kind"] = InboundKind(data["kind"])
    data["timestamp"] = dt.datetime.fromisoformat(data["timestamp"])
    return int(body["org"]), Inbound(**data)
