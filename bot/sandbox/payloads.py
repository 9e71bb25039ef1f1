"""Provider-shaped webhook bodies, exactly as Meta and Twilio send them, and their signatures.

Used by the browser chat, the scripted `SandboxPatient`, the emulators' status callbacks,
tests and benchmarks, so all of them exercise the real webhook path.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bot.channels.sms import compute_signature
from bot.channels.whatsapp import sign

WABA_ID = "100000000000009"
DISPLAY_PHONE = "15550001111"
TWILIO_API_VERSION = "2010-04-01"


def new_wamid() -> str:
    """A WhatsApp message id of Meta's shape."""
    return "wamid.HBgM" + secrets.token_urlsafe(24).replace("-", "A").replace("_", "B")


def new_sms_sid(prefix: str = "SM") -> str:
    """A Twilio message sid (34 characters: two letters and 32 hex digits)."""
    return prefix + secrets.token_hex(16)


def bsuid_for(phone: str, country: str = "IN") -> str:
    """A stable, business-scoped user id for a sandbox phone number (Meta's "CC.digits" shape)."""
    digest = hashlib.sha256(phone.lstrip("+").encode()).digest()
    return f"{country}.{int.from_bytes(digest[:8], 'big'):020d}"


def wa_text(body: str) -> dict[str, Any]:
    return {"type": "text", "text": {"body": body}}


def wa_list_reply(choice_id: str, title: str, description: str | None = None) -> dict[str, Any]:
    reply: dict[str, Any] = {"id": choice_id, "title": title}
    if description:
        reply["description"] = description
    return {"type": "interactive", "interactive": {"type": "list_reply", "list_reply": reply}}


def wa_button_reply(choice_id: str, title: str) -> dict[str, Any]:
    return {"type": "interactive", "interactive": {"type": "button_reply", "button_reply": {"id": choice_id, "title": title}}}


def wa_location(latitude: float, longitude: float, name: str | None = None, address: str | None = None) -> dict[str, Any]:
    loc: dict[str, Any] = {"latitude": latitude, "longitude": longitude}
    if name:
        loc["name"] = name
    if address:
        loc["address"] = address
    return {"type": "location", "location": loc}


def whatsapp_message_webhook(
    *,
    phone_id: str,
    message: dict[str, Any],
    phone: str | None,
    user_id: str | None,
    name: str = "Sandbox Patient",
    message_id: str | None = None,
    timestamp: int | None = None,
    context_id: str | None = None,
) -> dict[str, Any]:
    """A `messages` webhook with one inbound message (`message` from the `wa_*` builders)."""
    wa_id = phone.lstrip("+") if phone else None
    contact: dict[str, Any] = {"profile": {"name": name}}
    msg: dict[str, Any] = {"id": message_id or new_wamid(), "timestamp": str(timestamp or int(time.time())), **message}
    if wa_id:
        contact["wa_id"] = wa_id
        msg["from"] = wa_id
    if user_id:
        contact["user_id"] = user_id
        msg["from_user_id"] = user_id
    if context_id:
        msg["context"] = {"from": DISPLAY_PHONE, "id": context_id}
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": DISPLAY_PHONE, "phone_number_id": phone_id},
        "contacts": [contact],
        "messages": [msg],
    }
    return _envelope(value)


@dataclass(frozen=True, slots=True)
class WhatsAppStatus:
    """One status of one of our sends, as the emulator reports it by webhook."""

    phone_id: str
    message_id: str
    status: str
    recipient_phone: str | None
    recipient_user_id: str | None
    callback_data: str | None
    errors: list[dict[str, Any]] | None = None
    timestamp: int | None = None


def whatsapp_status_webhook(
    *,
    phone_id: str,
    message_id: str,
    status: str,
    recipient_phone: str | None,
    recipient_user_id: str | None,
    callback_data: str | None,
    errors: list[dict[str, Any]] | None = None,
    timestamp: int | None = None,
) -> dict[str, Any]:
    """A `messages` webhook carrying one status of one of our sends."""
    return whatsapp_statuses_webhook([WhatsAppStatus(
        phone_id=phone_id, message_id=message_id, status=status, recipient_phone=recipient_phone,
        recipient_user_id=recipient_user_id, callback_data=callback_data, errors=errors, timestamp=timestamp,
    )])


def whatsapp_statuses_webhook(statuses: Sequence[WhatsAppStatus]) -> dict[str, Any]:
    """One `messages` webhook carrying several statuses, as Meta batches them: one change
    per phone number id, its statuses in the given order, `contacts` naming each recipient once."""
    values: dict[str, dict[str, Any]] = {}
    seen_contacts: dict[str, set[tuple[str | None, str | None]]] = {}
    now = str(int(time.time()))
    for status in statuses:
        value = values.get(status.phone_id)
        if value is None:
            value = values[status.phone_id] = {
                "messaging_product": "whatsapp",
                "metadata": {"display_phone_number": DISPLAY_PHONE, "phone_number_id": status.phone_id},
                "statuses": [],
            }
            seen_contacts[status.phone_id] = set()
        st: dict[str, Any] = {"id": status.message_id, "status": status.status,
                              "timestamp": str(status.timestamp) if status.timestamp else now}
        contact: dict[str, Any] = {}
        if status.recipient_phone:
            st["recipient_id"] = status.recipient_phone.lstrip("+")
            contact["wa_id"] = st["recipient_id"]
        if status.recipient_user_id:
            st["recipient_user_id"] = status.recipient_user_id
            contact["user_id"] = status.recipient_user_id
        if status.callback_data:
            st["biz_opaque_callback_data"] = status.callback_data
        if status.errors:
            st["errors"] = status.errors
        if status.status in ("sent", "delivered"):
            st["pricing"] = {"billable": False, "pricing_model": "PMP", "category": "service",
                             "type": "free_customer_service"}
        value["statuses"].append(st)
        identity = (contact.get("wa_id"), contact.get("user_id"))
        if contact and identity not in seen_contacts[status.phone_id]:
            seen_contacts[status.phone_id].add(identity)
            value.setdefault("contacts", []).append(contact)
    changes = [{"value": value, "field": "messages"} for value in values.values()]
    return {"object": "whatsapp_business_account", "entry": [{"id": WABA_ID, "changes": changes}]}


def _envelope(value: dict[str, Any]) -> dict[str, Any]:
    return {"object": "whatsapp_business_account", "entry": [{"id": WABA_ID, "changes": [{"value": value, "field": "messages"}]}]}


def signed_json(payload: dict[str, Any], app_secret: str) -> tuple[bytes, dict[str, str]]:
    """The body bytes and headers Meta would POST for `payload`."""
    body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
    return body, {"Content-Type": "application/json", "X-Hub-Signature-256": sign(body, app_secret)}


def sms_inbound_params(*, account_sid: str, to: str, from_: str, body: str, message_sid: str | None = None) -> dict[str, str]:
    """The form Twilio POSTs for an incoming SMS."""
    sid = message_sid or new_sms_sid()
    return {
        "ToCountry": "IN", "ToState": "", "SmsMessageSid": sid, "NumMedia": "0", "ToCity": "", "FromZip": "",
        "SmsSid": sid, "FromState": "", "SmsStatus": "received", "FromCity": "", "Body": body, "FromCountry": "IN",
        "To": to, "ToZip": "", "NumSegments": "1", "MessageSid": sid, "AccountSid": account_sid, "From": from_,
        "ApiVersion": TWILIO_API_VERSION,
    }


def sms_status_params(*, account_sid: str, message_sid: str, status: str, to: str, from_: str,
                      error_code: int | None = None) -> dict[str, str]:
    """The form Twilio POSTs to a StatusCallback URL."""
    params = {
        "SmsSid": message_sid, "SmsStatus": status, "MessageStatus": status, "To": to, "MessageSid": message_sid,
        "AccountSid": account_sid, "From": from_, "ApiVersion": TWILIO_API_VERSION,
    }
    if error_code is not None:
        params["ErrorCode"] = str(error_code)
    return params


def signed_form(url: str, params: dict[str, str], auth_token: str) -> dict[str, str]:
    """Headers Twilio would send with a form POST of `params` to `url`."""
    return {"X-Twilio-Signature": compute_signature(url, params, auth_token)}
