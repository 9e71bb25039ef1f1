"""Twilio inbound and status parsing, and the opt-out / opt-in words."""

from __future__ import annotations

import pytest

from bot.channels import sms
from bot.channels.errors import PayloadError
from bot.messages import Channel, InboundKind
from bot.sandbox.payloads import sms_inbound_params, sms_status_params


def test_parse_inbound() -> None:
    params = sms_inbound_params(account_sid="AC1", to="+15005550006", from_="+919800000001", body="2", message_sid="SM" + "a" * 32)
    inbound = sms.parse_inbound(params)
    assert (inbound.channel, inbound.account, inbound.user_id, inbound.phone) == (Channel.SMS, "+15005550006", "+919800000001", "+919800000001")
    assert (inbound.kind, inbound.text, inbound.message_id) == (InboundKind.TEXT, "2", "SM" + "a" * 32)
    assert inbound.timestamp.tzinfo is not None


def test_parse_inbound_mms_without_text() -> None:
    params = {**sms_inbound_params(account_sid="AC1", to="+1", from_="+91", body=""), "NumMedia": "1", "MediaContentType0": "image/jpeg"}
    inbound = sms.parse_inbound(params)
    assert (inbound.kind, inbound.media_type) == (InboundKind.MEDIA, "image/jpeg")


@pytest.mark.parametrize("missing", ["From", "To", "MessageSid"])
def test_parse_inbound_malformed(missing: str) -> None:
    params = sms_inbound_params(account_sid="AC1", to="+1", from_="+91", body="hi")
    del params[missing]
    with pytest.raises(PayloadError):
        sms.parse_inbound(params)


def test_parse_status() -> None:
    params = sms_status_params(account_sid="AC1", message_sid="SM1", status="undelivered", to="+91", from_="+1", error_code=30003)
    status = sms.parse_status(params, "key-1")
    assert (status.provider_message_id, status.status, status.error_code, status.idempotency_key) == ("SM1", "undelivered", 30003, "key-1")
    with pytest.raises(PayloadError):
        sms.parse_status({"MessageSid": "SM1"}, None)


@pytest.mark.parametrize("word", ["STOP", "stop", " Stop ", "CANCEL", "end", "QUIT", "unsubscribe", "STOPALL", "revoke", "optout"])
def test_opt_out_words(word: str) -> None:
    assert sms.is_opt_out(word)
    assert not sms.is_opt_in(word)


@pytest.mark.parametrize("text", ["please stop", "cancel my appointment", "3", "", "STOP!", "stopped"])
def test_not_opt_out(text: str) -> None:
    assert not sms.is_opt_out(text)


@pytest.mark.parametrize("word", ["START", "unstop", " yes "])
def test_opt_in_words(word: str) -> None:
    assert sms.is_opt_in(word) and not sms.is_opt_out(word)
