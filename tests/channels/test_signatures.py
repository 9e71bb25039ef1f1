"""Webhook authentication: Meta's X-Hub-Signature-256 and Twilio's X-Twilio-Signature."""

from __future__ import annotations

import pytest

from bot.channels import sms, whatsapp
from bot.channels.errors import SignatureError

SECRET = "app-secret"
TOKEN = "twilio-token"
BODY = b'{"object":"whatsapp_business_account","entry":[]}'


def test_whatsapp_good_signature() -> None:
    whatsapp.verify_signature(BODY, whatsapp.sign(BODY, SECRET), SECRET)


@pytest.mark.parametrize(
    "header",
    [None, "", "sha256=", "sha1=abc", whatsapp.sign(BODY, "other-secret"), whatsapp.sign(BODY + b" ", SECRET),
     whatsapp.sign(BODY, SECRET).upper()],
)
def test_whatsapp_bad_signatures(header: str | None) -> None:
    with pytest.raises(SignatureError):
        whatsapp.verify_signature(BODY, header, SECRET)


def test_whatsapp_no_secret_configured_rejects() -> None:
    with pytest.raises(SignatureError):
        whatsapp.verify_signature(BODY, whatsapp.sign(BODY, ""), "")


def test_verify_challenge() -> None:
    params = {"hub.mode": "subscribe", "hub.verify_token": "vt", "hub.challenge": "1158201444"}
    assert whatsapp.verify_challenge(params, "vt") == "1158201444"
    for bad in ({**params, "hub.verify_token": "nope"}, {**params, "hub.mode": "unsubscribe"}, {"hub.mode": "subscribe"}):
        with pytest.raises(SignatureError):
            whatsapp.verify_challenge(bad, "vt")
    with pytest.raises(SignatureError):
        whatsapp.verify_challenge(params, "")


URL = "https://bot.example.org/webhooks/sms/status?key=out%3A42&x=1"
PARAMS = {"MessageSid": "SM" + "0" * 32, "MessageStatus": "delivered", "To": "+919800000001"}


def test_twilio_good_signature_over_url_with_query() -> None:
    header = sms.compute_signature(URL, PARAMS, TOKEN)
    sms.validate_signature(URL, PARAMS, header, TOKEN)


@pytest.mark.parametrize(
    ("url", "params", "token"),
    [
        ("https://bot.example.org/webhooks/sms/status", PARAMS, TOKEN),  # query string dropped
        (URL.replace("42", "43"), PARAMS, TOKEN),                          # key tampered
        (URL, {**PARAMS, "MessageStatus": "read"}, TOKEN),                 # form tampered
        (URL, PARAMS, "wrong-token"),                                      # other account
    ],
)
def test_twilio_forged(url: str, params: dict[str, str], token: str) -> None:
    header = sms.compute_signature(URL, PARAMS, TOKEN)
    with pytest.raises(SignatureError):
        sms.validate_signature(url, params, header, token)


@pytest.mark.parametrize("header", [None, ""])
def test_twilio_missing_header_is_signature_error(header: str | None) -> None:
    with pytest.raises(SignatureError):
        sms.validate_signature(URL, PARAMS, header, TOKEN)
