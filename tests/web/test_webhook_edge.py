"""The webhook edge: signatures first, nothing done on failure, malformed → 400."""

from __future__ import annotations

import json

from yarl import URL

from bot.sandbox import payloads
from tests.dispatch.support import Env, SmsPatient, WhatsAppPatient, new_phone


async def test_verification_handshake(env: Env) -> None:
    ok = await env.client.get("/webhooks/whatsapp", params={
        "hub.mode": "subscribe", "hub.verify_token": env.settings.whatsapp_verify_token, "hub.challenge": "1158201444"})
    assert ok.status == 200
    assert await ok.text() == "1158201444"
    wrong = await env.client.get("/webhooks/whatsapp", params={
        "hub.mode": "subscribe", "hub.verify_token": "guess", "hub.challenge": "1158201444"})
    assert wrong.status == 403
    assert "1158201444" not in await wrong.text()


async def test_unsigned_forged_and_malformed_whatsapp_change_nothing(env: Env) -> None:
    patient = WhatsAppPatient(env, new_phone(), env.settings.whatsapp_phone_id)
    before = await env.snapshot()
    payload = patient.payload("hi")
    body, headers = payloads.signed_json(payload, env.settings.whatsapp_app_secret)

    unsigned = await env.client.post("/webhooks/whatsapp", data=body, headers={"Content-Type": "application/json"})
    assert unsigned.status == 401
    forged_headers = dict(headers, **{"X-Hub-Signature-256": payloads.sign(body, "not-the-secret")})
    forged = await env.client.post("/webhooks/whatsapp", data=body, headers=forged_headers)
    assert forged.status == 403
    # Signed correctly, but the body was changed after signing.
    tampered = await env.client.post("/webhooks/whatsapp", data=body.replace(b"hi", b"yo"), headers=headers)
    assert tampered.status == 403
    for junk in (b"not json", b"[]", json.dumps({"object": "page", "entry": []}).encode(),
                 json.dumps({"object": "whatsapp_business_account", "entry": [{"changes": "x"}]}).encode()):
        signed = {"Content-Type": "application/json",
                  "X-Hub-Signature-256": payloads.sign(junk, env.settings.whatsapp_app_secret)}
        resp = await env.client.post("/webhooks/whatsapp", data=junk, headers=signed)
        assert resp.status == 400, junk

    assert await env.snapshot() == before


async def test_unsigned_forged_and_malformed_sms_change_nothing(env: Env) -> None:
    patient = SmsPatient(env, new_phone(), env.settings.twilio_from)
    before = await env.snapshot()
    params = patient.params("hi")

    missing = await env.client.post("/webhooks/sms", data=params)
    assert missing.status == 403
    forged = await env.client.post("/webhooks/sms", data=params, headers={"X-Twilio-Signature": "bm90IGl0"})
    assert forged.status == 403
    # Signed for another URL (Twilio signs the public URL + path + query).
    elsewhere = payloads.signed_form(env.settings.public_url + "/webhooks/sms?x=1", params,
                                     env.settings.twilio_auth_token)
    assert (await env.client.post("/webhooks/sms", data=params, headers=elsewhere)).status == 403
    no_sender = {k: v for k, v in params.items() if k != "From"}
    status, _ = await env.post_sms(no_sender)
    assert status == 400
    status_missing = await env.client.post("/webhooks/sms/status?key=in:sms:x:0", data={"MessageSid": "SM1"})
    assert status_missing.status == 403

    assert await env.snapshot() == before


async def test_sms_answers_empty_twiml(env: Env) -> None:
    patient = SmsPatient(env, new_phone(), env.settings.twilio_from)
    status, body = await patient.say("hi")
    assert status == 200
    assert body.endswith("<Response/>")


async def test_sms_signature_covers_the_query_string(env: Env) -> None:
    params = payloads.sms_status_params(account_sid=env.settings.twilio_account_sid, message_sid="SM" + "0" * 32,
                                        status="delivered", to=new_phone(), from_=env.settings.twilio_from)
    status, _ = await env.post_sms(params, path="/webhooks/sms/status?key=some-key")
    assert status == 200


async def test_sms_signature_uses_the_undecoded_status_callback_url(env: Env) -> None:
    # The sender builds the StatusCallback with yarl, which escapes "&" (and keeps ":");
    # Twilio signs that exact URL, so the check must use the undecoded path and query.
    key = "out:sms:a&b=c:1"
    path = str(URL("/webhooks/sms/status").with_query(key=key))
    assert "%26" in path
    params = payloads.sms_status_params(account_sid=env.settings.twilio_account_sid, message_sid="SM" + "1" * 32,
                                        status="delivered", to=new_phone(), from_=env.settings.twilio_from)
    status, _ = await env.post_sms(params, path=path)
    assert status == 200
    decoded = "/webhooks/sms/status?key=" + key  # signed over the decoded form: refused
    headers = payloads.signed_form(env.settings.public_url + decoded, params, env.settings.twilio_auth_token)
    resp = await env.client.post(path, data=params, headers=headers)
    assert resp.status == 403
