"""Twilio SMS webhooks, pure: signature, inbound messages, status callbacks, opt-out words.

Twilio signs `X-Twilio-Signature` over the full URL it called (our public URL + path +
query string) plus the sorted form parameters; behind a proxy the request's own URL is
not that, so callers pass `PUBLIC_URL` + path + query.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

from twilio.request_validator import RequestValidator

from bot.channels.errors import PayloadError, SignatureError
from bot.messages import Channel, Inbound, InboundKind, StatusUpdate

SIGNATURE_HEADER = "X-Twilio-Signature"

# Twilio's default Advanced Opt-Out keywords (and what carriers honour in the US/Canada).
OPT_OUT_WORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"})
OPT_IN_WORDS = frozenset({"START", "UNSTOP", "YES"})
HELP_WORDS = frozenset({"HELP", "INFO"})


def compute_signature(url: str, params: Mapping[str, str], auth_token: str) -> str:
    """The `X-Twilio-Signature` Twilio would send for a POST of `params` to `url`."""
    return RequestValidator(auth_token).compute_signature(url, dict(params))


def validate_signature(url: str, params: Mapping[str, str], header: str | None, auth_token: str) -> None:
    """Check `X-Twilio-Signature` for a POST to the full public `url`; raise `SignatureError`."""
    if not header:
        raise SignatureError("missing X-Twilio-Signature")
    if not auth_token:
        raise SignatureError("no auth token configured")
    if not RequestValidator(auth_token).validate(url, params, header):
        raise SignatureError("signature mismatch")


def _normalized_word(text: str | None) -> str:
    return (text or "").strip().upper()


def is_opt_out(text: str | None) -> bool:
    """True when the whole message is one of Twilio's opt-out words (trimmed, any case)."""
    return _normalized_word(text) in OPT_OUT_WORDS


def is_opt_in(text: str | None) -> bool:
    """True when the whole message is one of Twilio's opt-in words (trimmed, any case)."""
    return _normalized_word(text) in OPT_IN_WORDS


def _required(params: Mapping[str, str], name: str) -> str:
    value = params.get(name)
    if not value:
        raise PayloadError(f"missing {name}")
    return str(value)


def parse_inbound(params: Mapping[str, str], *, received_at: dt.datetime | None = None) -> Inbound:
    """An inbound SMS/MMS webhook as an `Inbound` (Twilio sends no timestamp: we use arrival)."""
    sender = _required(params, "From")
    body = params.get("Body") or ""
    try:
        num_media = int(params.get("NumMedia") or 0)
    except ValueError as exc:
        raise PayloadError("NumMedia is not a number") from exc
    fields: dict[str, object]
    if num_media and not body.strip():
        fields = {"kind": InboundKind.MEDIA, "media_type": params.get("MediaContentType0") or "media"}
    else:
        fields = {"kind": InboundKind.TEXT, "text": body}
    return Inbound(
        channel=Channel.SMS,
        account=_required(params, "To"),
        user_id=sender,
        message_id=_required(params, "MessageSid"),
        timestamp=received_at or dt.datetime.now(dt.UTC),
        phone=sender if sender.startswith("+") else None,
        **fields,  # type: ignore[arg-type]
    )


def parse_status(
    params: Mapping[str, str],
    idempotency_key: str | None,
    *,
    received_at: dt.datetime | None = None,
) -> StatusUpdate:
    """A status callback as a `StatusUpdate`; `idempotency_key` comes from our callback URL."""
    code = params.get("ErrorCode")
    try:
        error_code = int(code) if code else None
    except ValueError as exc:
        raise PayloadError("ErrorCode is not a number") from exc
    return StatusUpdate(
        channel=Channel.SMS,
        provider_message_id=_required(params, "MessageSid"),
        status=_required(params, "MessageStatus").lower(),
        timestamp=received_at or dt.datetime.now(dt.UTC),
        recipient=params.get("To"),
        error_code=error_code,
        error_title=params.get("ErrorMessage") or None,
        idempotency_key=idempotency_key,
    )
