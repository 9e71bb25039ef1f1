"""Provider-shaped webhook bodies, exactly as Meta and Twilio send them, and their signatures.

Used by the browser chat, the scripted `SandboxPatient`, the emulators' status callbacks,
tests and benchmarks, so all of them exercise the real webhook path.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
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
    st: dict[str, Any] = {"id": message_id, "status": status, "timestamp": str(timestamp or int(time.time()))}
    contact: dict[str, Any] = {}
    if recipient_phone:
        st["recipient_id"] = recipient_phone.lstrip("+")
        contact["wa_id"] = st["recipient_id"]
    if recipient_user_id:
        st["recipient_user_id"] = recipient_user_id
        contact["user_id"] = recipient_user_id
    if callback_data:
        st["biz_opaque_callback_data"] = callback_data
    if errors:
        st["errors"] = errors
    if status in ("sent", "delivered"):
        st["pricing"] = {"billable": False, "pricing_model": "PMP", "category": "service", "type": "free_customer_service"}
    value: dict[str, Any] = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": DISPLAY_PHONE, "phone_number_id": phone_id},
        "statuses": [st],
    }
    if contact:
        value["contacts"] = [contact]
    return _envelope(value)


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
