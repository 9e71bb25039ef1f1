"""SandboxPatient: signed provider-shaped webhooks, and replies collected from the emulators."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from bot.messages import Buttons, Channel, InboundKind, Option, Text
from bot.sandbox.patient import SandboxError, SandboxPatient

Sandbox = Any  # the fixture type lives in conftest.py


async def test_whatsapp_patient_round_trip(sandbox: Sandbox) -> None:
    patient = SandboxPatient(sandbox.url, sandbox.settings, Channel.WHATSAPP, "+919800000010",
                             user_id="IN.77", session=sandbox.http, settle_s=0.05)
    assert await patient.say("hello", wait=False) == []
    [inbound] = sandbox.received.inbounds
    assert (inbound.user_id, inbound.phone, inbound.text) == ("IN.77", "+919800000010", "hello")
    # The bot answers (here: we send through the real sender) and the patient sees it.
    await sandbox.wa.send("IN.77", Buttons("Book?", (Option("yes", "Yes"), Option("no", "No"))), idempotency_key="a")
    [reply] = await patient.wait_for_replies()
    assert reply["view"]["options"][0] == {"id": "yes", "title": "Yes"}
    await patient.choose("No", wait=False)
    choice = sandbox.received.inbounds[-1]
    assert (choice.kind, choice.choice_id, choice.context_message_id) == (InboundKind.CHOICE, "no", reply["id"])
    await patient.share_location(19.1, 72.8, wait=False)
    assert sandbox.received.inbounds[-1].kind is InboundKind.LOCATION
    with pytest.raises(SandboxError):
        await patient.choose("maybe")


async def test_replies_sent_to_phone_reach_a_bsuid_patient(sandbox: Sandbox) -> None:
    patient = SandboxPatient(sandbox.url, sandbox.settings, "whatsapp", "+919800000011", user_id="IN.78", session=sandbox.http, settle_s=0.05)
    await patient.register()
    await sandbox.wa.send("919800000011", Text("by phone"), idempotency_key="p")
    await sandbox.wa.send("IN.78", Text("by bsuid"), idempotency_key="b")
    replies = await patient.wait_for_replies(minimum=2)
    assert [r["view"]["text"] for r in replies] == ["by phone", "by bsuid"]


async def test_sms_patient_round_trip(sandbox: Sandbox) -> None:
    patient = SandboxPatient(sandbox.url, sandbox.settings, Channel.SMS, "+919800000012", session=sandbox.http, settle_s=0.05)
    await patient.say("hi", wait=False)
    assert sandbox.received.inbounds[-1].user_id == "+919800000012"
    await sandbox.sms.send("+919800000012", Buttons("Book?", (Option("yes", "Yes"), Option("no", "No"))), idempotency_key="s")
    [reply] = await patient.wait_for_replies()
    assert reply["view"]["text"].splitlines()[1:] == ["1 Yes", "2 No"]
    await patient.choose("No", wait=False)
    assert sandbox.received.inbounds[-1].text == "2"
    assert sandbox.received.rejected == []


async def test_forged_signature_is_refused(sandbox: Sandbox) -> None:
    forged = sandbox.settings.with_(whatsapp_app_secret="not-the-secret", twilio_auth_token="nope")
    for channel in (Channel.WHATSAPP, Channel.SMS):
        patient = SandboxPatient(sandbox.url, forged, channel, "+919800000013", session=sandbox.http)
        with pytest.raises(SandboxError):
            await patient.say("hi")
    assert sandbox.received.inbounds == [] and sandbox.received.rejected == ["SignatureError", "SignatureError"]


async def test_many_patients_at_once(sandbox: Sandbox) -> None:
    patients = [SandboxPatient(sandbox.url, sandbox.settings, "whatsapp", f"+9198000002{i:02d}", user_id=f"IN.9{i}",
                               session=sandbox.http, settle_s=0.05) for i in range(20)]
    await asyncio.gather(*(p.say("hi", wait=False) for p in patients))
    await asyncio.gather(*(sandbox.wa.send(p.user_id or "", Text(p.user_id or ""), idempotency_key="m") for p in patients))
    got = await asyncio.gather(*(p.wait_for_replies() for p in patients))
    assert [g[0]["view"]["text"] for g in got] == [p.user_id for p in patients]


async def test_chat_api_rejects_bad_input(sandbox: Sandbox) -> None:
    url = f"{sandbox.url}/sandbox/api/send"
    for body in ({"channel": "fax", "phone": "+919800000001", "text": "x"},
                 {"channel": "sms", "phone": "nope", "text": "x"},
                 {"channel": "whatsapp", "phone": "+919800000001"},
                 {"channel": "whatsapp", "phone": "+919800000001", "latitude": "north", "longitude": 1}):
        async with sandbox.http.post(url, json=body) as resp:
            assert resp.status == 400, body
    async with sandbox.http.get(f"{sandbox.url}/sandbox/api/messages", params={"channel": "sms"}) as resp:
        assert resp.status == 400
    assert sandbox.received.inbounds == []
