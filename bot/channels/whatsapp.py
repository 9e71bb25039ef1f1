"""WhatsApp Cloud API webhooks, pure: signature, verification handshake, parsing.

We deliberately do not hand bodies to pywa's `webhook_update_handler`: it dedupes in
memory, answers 200 on handler errors and reads only the first entry/change/message.
Meta batches (several entries, changes, messages and statuses in one POST), so every
one of them is walked here and normalized into `Inbound` / `StatusUpdate`.

Identity: Meta sends a business-scoped user id (BSUID, `contacts[].user_id`, and on
messages `from_user_id` / statuses `recipient_user_id`) and the phone (`wa_id`/`from`)
only while the user has not switched to a username. Users are keyed on the BSUID,
falling back to the wa_id for payloads that carry none.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from bot.channels.errors import PayloadError, SignatureError
from bot.messages import Channel, Inbound, InboundKind, StatusUpdate

SIGNATURE_HEADER = "X-Hub-Signature-256"
_SIGNATURE_PREFIX = "sha256="
MEDIA_TYPES = frozenset({"image", "document", "audio", "video", "sticker", "voice"})


@dataclass(frozen=True, slots=True)
class WebhookBatch:
    """Everything one webhook POST carried, in payload order."""

    inbounds: tuple[Inbound, ...]
    statuses: tuple[StatusUpdate, ...]


def sign(body: bytes, app_secret: str) -> str:
    """The `X-Hub-Signature-256` header value Meta would send for `body`."""
    digest = hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()
    return _SIGNATURE_PREFIX + digest


def verify_signature(body: bytes, header: str | None, app_secret: str) -> None:
    """Check `X-Hub-Signature-256` over the raw body (constant time); raise `SignatureError`."""
    if not app_secret:
        raise SignatureError("no app secret configured")
    if not header or not header.startswith(_SIGNATURE_PREFIX):
        raise SignatureError("missing or malformed signature header")
    if not hmac.compare_digest(sign(body, app_secret).encode(), header.strip().encode()):
        raise SignatureError("signature mismatch")


def verify_challenge(params: Mapping[str, str], verify_token: str) -> str:
    """The subscription handshake: return `hub.challenge` when mode and token match."""
    token = params.get("hub.verify_token") or ""
    if (
        params.get("hub.mode") != "subscribe"
        or not verify_token
        or not hmac.compare_digest(token.encode(), verify_token.encode())
    ):
        raise SignatureError("verify token mismatch")
    challenge = params.get("hub.challenge")
    if not challenge:
        raise SignatureError("no challenge given")
    return challenge


def parse_webhook(payload: Any) -> WebhookBatch:
    """Normalize a decoded webhook body; raise `PayloadError` when it is not Meta-shaped.

    Changes whose field is not `messages` (template status, account updates…) are skipped.
    """
    if not isinstance(payload, dict) or payload.get("object") != "whatsapp_business_account":
        raise PayloadError("not a whatsapp_business_account webhook")
    entries = payload.get("entry")
    if not isinstance(entries, list):
        raise PayloadError("entry must be a list")
    inbounds: list[Inbound] = []
    statuses: list[StatusUpdate] = []
    try:
        for value in _message_values(entries):
            account = str(value["metadata"]["phone_number_id"])
            contacts = value.get("contacts") or []
            for msg in value.get("messages") or []:
                inbounds.append(_inbound(msg, account, contacts))
            for st in value.get("statuses") or []:
                statuses.append(_status(st))
    except PayloadError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise PayloadError(f"malformed webhook: {type(exc).__name__}") from exc
    return WebhookBatch(inbounds=tuple(inbounds), statuses=tuple(statuses))


def _message_values(entries: list[Any]) -> Iterator[dict[str, Any]]:
    for entry in entries:
        changes = entry["changes"]
        if not isinstance(changes, list):
            raise PayloadError("changes must be a list")
        for change in changes:
            if change.get("field", "messages") != "messages":
                continue
            value = change["value"]
            if not isinstance(value, dict):
                raise PayloadError("value must be an object")
            yield value


def _timestamp(raw: Any) -> dt.datetime:
    return dt.datetime.fromtimestamp(int(raw), tz=dt.UTC)


def _e164(wa_id: str | None) -> str | None:
    if not wa_id:
        return None
    digits = wa_id.lstrip("+")
    return f"+{digits}" if digits.isdigit() else None


def _contact_for(msg: dict[str, Any], contacts: list[dict[str, Any]]) -> dict[str, Any]:
    """The contact entry describing the sender of `msg` (matched by BSUID or wa_id)."""
    user_id, wa_id = msg.get("from_user_id"), msg.get("from")
    for contact in contacts:
        if user_id and contact.get("user_id") == user_id:
            return contact
        if wa_id and contact.get("wa_id") == wa_id:
            return contact
    return contacts[0] if len(contacts) == 1 else {}


def _inbound(msg: dict[str, Any], account: str, contacts: list[dict[str, Any]]) -> Inbound:
    contact = _contact_for(msg, contacts)
    wa_id = msg.get("from") or contact.get("wa_id") or None
    user_id = msg.get("from_user_id") or contact.get("user_id") or wa_id
    if not user_id:
        raise PayloadError("message without a sender")
    profile = contact.get("profile") or {}
    base: dict[str, Any] = {
        "channel": Channel.WHATSAPP,
        "account": account,
        "user_id": str(user_id),
        "message_id": str(msg["id"]),
        "timestamp": _timestamp(msg["timestamp"]),
        "phone": _e164(wa_id),
        "profile_name": profile.get("name"),
        "context_message_id": (msg.get("context") or {}).get("id"),
    }
    # Content wins: a reaction names the message it reacts to as its context.
    content = _content(msg)
    if content.get("context_message_id") is None:
        content.pop("context_message_id", None)
    return Inbound(**{**base, **content})


def _content(msg: dict[str, Any]) -> dict[str, Any]:
    """Kind-specific fields of an inbound message."""
    typ = msg.get("type")
    if msg.get("errors") or typ in (None, "unsupported", "unknown"):
        return {"kind": InboundKind.UNSUPPORTED, "media_type": typ}
    if typ == "text":
        return {"kind": InboundKind.TEXT, "text": str(msg["text"]["body"])}
    if typ == "interactive":
        inter = msg["interactive"]
        reply = inter.get(inter.get("type", "")) if inter.get("type") in ("list_reply", "button_reply") else None
        if reply is None:
            return {"kind": InboundKind.UNSUPPORTED, "media_type": f"interactive:{inter.get('type')}"}
        return {"kind": InboundKind.CHOICE, "choice_id": str(reply["id"]), "choice_title": reply.get("title")}
    if typ == "button":  # a template quick-reply button
        button = msg["button"]
        return {
            "kind": InboundKind.CHOICE,
            "choice_id": str(button.get("payload") or button.get("text")),
            "choice_title": button.get("text"),
        }
    if typ == "location":
        loc = msg["location"]
        return {
            "kind": InboundKind.LOCATION,
            "latitude": float(loc["latitude"]),
            "longitude": float(loc["longitude"]),
            "text": loc.get("name") or loc.get("address"),
        }
    if typ in MEDIA_TYPES:
        return {"kind": InboundKind.MEDIA, "media_type": typ, "text": (msg.get(typ) or {}).get("caption")}
    if typ == "reaction":
        reaction = msg["reaction"]
        return {
            "kind": InboundKind.REACTION,
            "reaction": reaction.get("emoji") or None,  # an empty emoji means "reaction removed"
            "context_message_id": reaction.get("message_id"),
        }
    if typ == "contacts":
        return {"kind": InboundKind.CONTACTS}
    return {"kind": InboundKind.UNSUPPORTED, "media_type": str(typ)}


def _status(st: dict[str, Any]) -> StatusUpdate:
    errors = st.get("errors") or []
    first = errors[0] if errors else {}
    code = first.get("code")
    return StatusUpdate(
        channel=Channel.WHATSAPP,
        provider_message_id=str(st["id"]),
        status=str(st["status"]),
        timestamp=_timestamp(st["timestamp"]),
        recipient=st.get("recipient_user_id") or st.get("recipient_id"),
        error_code=int(code) if code is not None else None,
        error_title=first.get("title") or first.get("message"),
        idempotency_key=st.get("biz_opaque_callback_data"),
    )
