"""The emulators driven by the real pywa and twilio clients (via our senders)."""

from __future__ import annotations

import asyncio
import base64

import pytest

from bot.channels.errors import (
    PermanentSendError,
    ReEngagementRequired,
    RecipientOptedOut,
    ThroughputExceeded,
    TransientSendError,
    Undeliverable,
)
from bot.channels.render_whatsapp import to_whatsapp
from bot.messages import Buttons, Choices, Option, Template, Text
from bot.sandbox.graph import InvalidMessage, validate_message
from bot.sandbox.store import SandboxStore

from typing import Any

Sandbox = Any  # the fixture type lives in conftest.py (tests are not a package)

BSUID = "IN.00000000000000000042"


async def _until(predicate, attempts: int = 400) -> None:
    """Wait for background callbacks (bounded; no timing is asserted)."""
    for _ in range(attempts):
        if predicate():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not reached")


async def test_whatsapp_send_to_bsuid_records_and_echoes_key(sandbox: Sandbox) -> None:
    wamid = await sandbox.wa.send(BSUID, Text("Hello"), idempotency_key="out-1")
    assert wamid.startswith("wamid.")
    [entry] = await SandboxStore(sandbox.redis).messages("whatsapp", BSUID)
    assert entry["payload"]["recipient"] == BSUID and "to" not in entry["payload"]
    assert entry["payload"]["biz_opaque_callback_data"] == "out-1"
    assert entry["view"] == {"kind": "text", "text": "Hello"}
    await _until(lambda: len(sandbox.received.statuses) == 3)
    assert [s.status for s in sandbox.received.statuses] == ["sent", "delivered", "read"]
    assert {s.idempotency_key for s in sandbox.received.statuses} == {"out-1"}
    assert {s.provider_message_id for s in sandbox.received.statuses} == {wamid}
    assert sandbox.received.statuses[0].recipient == BSUID


async def test_whatsapp_send_to_phone_uses_to(sandbox: Sandbox) -> None:
    options = tuple(Option(f"d{i}", f"Doctor number {i} with a long name", "Dermatology") for i in range(10))
    await sandbox.wa.send("+919800000001", Choices("Pick a doctor", options), idempotency_key="k2")
    [entry] = await SandboxStore(sandbox.redis).messages("whatsapp", "919800000001")
    assert entry["payload"]["to"] == "919800000001"
    assert [o["id"] for o in entry["view"]["options"]] == [f"d{i}" for i in range(10)]


async def test_mark_read_with_and_without_typing(sandbox: Sandbox) -> None:
    store = SandboxStore(sandbox.redis)
    await sandbox.wa.mark_read("wamid.in1")
    await sandbox.wa.mark_read("wamid.in2", typing=False)
    assert await store.read_state("wamid.in1") == "typing"
    assert await store.read_state("wamid.in2") == "read"


@pytest.mark.parametrize(
    ("code", "error_type"),
    [
        (131047, ReEngagementRequired),
        (130429, ThroughputExceeded),
        (131056, ThroughputExceeded),
        (131026, Undeliverable),
        (131000, TransientSendError),
        (132001, PermanentSendError),
    ],
)
async def test_whatsapp_failures_map_to_typed_errors(sandbox: Sandbox, code: int, error_type: type) -> None:
    await sandbox.control(channel="whatsapp", code=code, count=1, recipient=BSUID)
    with pytest.raises(error_type) as info:
        await sandbox.wa.send(BSUID, Text("x"), idempotency_key="k")
    assert info.value.code == code
    # Only the next send failed; the one after goes through.
    assert (await sandbox.wa.send(BSUID, Text("y"), idempotency_key="k")).startswith("wamid.")


async def test_failure_for_one_recipient_spares_others(sandbox: Sandbox) -> None:
    await sandbox.control(channel="whatsapp", code=131047, count=1, recipient=BSUID)
    assert await sandbox.wa.send("IN.1", Text("a"), idempotency_key="k")
    with pytest.raises(ReEngagementRequired):
        await sandbox.wa.send(BSUID, Text("b"), idempotency_key="k")


async def test_failed_status_mode_reports_by_webhook(sandbox: Sandbox) -> None:
    await sandbox.control(channel="whatsapp", mode="status", code=131026, count=1)
    wamid = await sandbox.wa.send(BSUID, Text("x"), idempotency_key="k-failed")
    await _until(lambda: len(sandbox.received.statuses) == 1)
    [status] = sandbox.received.statuses
    assert (status.provider_message_id, status.status, status.error_code, status.idempotency_key) == (wamid, "failed", 131026, "k-failed")


async def test_wrong_token_is_401_graph_error(sandbox: Sandbox) -> None:
    url = f"{sandbox.url}/sandbox/graph/v23.0/{sandbox.settings.whatsapp_phone_id}/messages"
    body = {"messaging_product": "whatsapp", "to": "919800000001", "type": "text", "text": {"body": "x"}}
    async with sandbox.http.post(url, json=body, headers={"Authorization": "Bearer wrong"}) as resp:
        assert resp.status == 401
        assert (await resp.json())["error"]["code"] == 190


async def test_emulator_rejects_what_meta_rejects(sandbox: Sandbox) -> None:
    url = f"{sandbox.url}/sandbox/graph/v23.0/{sandbox.settings.whatsapp_phone_id}/messages"
    body = to_whatsapp(Buttons("Pick", (Option("a", "A"),)))
    body["interactive"]["action"]["buttons"][0]["reply"]["title"] = "x" * 21
    body.update(messaging_product="whatsapp", to="919800000001")
    headers = {"Authorization": f"Bearer {sandbox.settings.whatsapp_token}"}
    async with sandbox.http.post(url, json=body, headers=headers) as resp:
        assert resp.status == 400
        assert (await resp.json())["error"]["code"] == 131009


def test_validator_limits() -> None:
    rows = [{"id": str(i), "title": "t"} for i in range(11)]
    body = {"messaging_product": "whatsapp", "to": "1", "type": "interactive",
            "interactive": {"type": "list", "body": {"text": "b"}, "action": {"button": "Go", "sections": [{"rows": rows}]}}}
    with pytest.raises(InvalidMessage):
        validate_message(body)
    body["interactive"]["action"]["sections"][0]["rows"] = rows[:10]
    validate_message(body)
    body["interactive"]["body"]["text"] = "x" * 1025
    with pytest.raises(InvalidMessage):
        validate_message(body)


async def test_template_send(sandbox: Sandbox) -> None:
    reply = Template("appointment_reminder", "en", components=({"type": "body", "parameters": [{"type": "text", "text": "Asha"}]},))
    await sandbox.wa.send(BSUID, reply, idempotency_key="t")
    [entry] = await SandboxStore(sandbox.redis).messages("whatsapp", BSUID)
    assert entry["payload"]["template"]["components"][0]["parameters"][0]["text"] == "Asha"


async def test_sms_send_and_status_callbacks(sandbox: Sandbox) -> None:
    sid = await sandbox.sms.send("+919800000002", Text("Your booking MM-7KQ2X"), idempotency_key="in:sms:SM1:0 &x=1")
    assert sid.startswith("SM") and len(sid) == 34
    [entry] = await SandboxStore(sandbox.redis).messages("sms", "+919800000002")
    assert entry["from"] == sandbox.settings.twilio_from
    assert entry["status_callback"].startswith(f"{sandbox.url}/webhooks/sms/status?key=")
    await _until(lambda: len(sandbox.received.statuses) == 2)
    assert [(s.status, s.idempotency_key, s.provider_message_id) for s in sandbox.received.statuses] == [
        ("sent", "in:sms:SM1:0 &x=1", sid), ("delivered", "in:sms:SM1:0 &x=1", sid)]
    assert sandbox.received.rejected == []


@pytest.mark.parametrize(
    ("code", "error_type"),
    [(21610, RecipientOptedOut), (20429, ThroughputExceeded), (20500, TransientSendError), (21211, Undeliverable)],
)
async def test_sms_failures_map_to_typed_errors(sandbox: Sandbox, code: int, error_type: type) -> None:
    await sandbox.control(channel="sms", code=code, count=1)
    with pytest.raises(error_type):
        await sandbox.sms.send("+919800000003", Text("x"), idempotency_key="k")
    # One send, one attempt: the failed POST was not retried by twilio's client.
    assert await SandboxStore(sandbox.redis).count("sms", "+919800000003") == 0
    assert await sandbox.sms.send("+919800000003", Text("y"), idempotency_key="k")


async def test_twilio_basic_auth_required(sandbox: Sandbox) -> None:
    sid = sandbox.settings.twilio_account_sid
    url = f"{sandbox.url}/sandbox/twilio/2010-04-01/Accounts/{sid}/Messages.json"
    bad = base64.b64encode(f"{sid}:wrong".encode()).decode()
    async with sandbox.http.post(url, data={"To": "+91980", "From": "+1", "Body": "x"}, headers={"Authorization": f"Basic {bad}"}) as resp:
        assert resp.status == 401


async def test_concurrent_sends_share_one_client(sandbox: Sandbox) -> None:
    ids = await asyncio.gather(*(sandbox.wa.send(f"IN.{i}", Text(str(i)), idempotency_key=str(i)) for i in range(30)))
    sids = await asyncio.gather(*(sandbox.sms.send(f"+9198000001{i:02d}", Text(str(i)), idempotency_key=str(i)) for i in range(30)))
    assert len(set(ids)) == 30 and len(set(sids)) == 30


def test_twilio_client_every_domain_goes_to_the_base(sandbox: Sandbox) -> None:
    http = sandbox.sms.client.http_client
    base = sandbox.settings.twilio_api_base
    assert http.rebase("https://api.twilio.com/2010-04-01/Accounts/AC1/Messages.json") == f"{base}/2010-04-01/Accounts/AC1/Messages.json"
    assert http.rebase("https://messaging.twilio.com/v1/Services?PageSize=5") == f"{base}/v1/Services?PageSize=5"
    assert http.rebase("https://example.org/x") == "https://example.org/x"


async def test_sms_failed_status_mode_reports_undelivered(sandbox: Sandbox) -> None:
    await sandbox.control(channel="sms", mode="status", code=30003, count=1, recipient="+919800000004")
    sid = await sandbox.sms.send("+919800000004", Text("x"), idempotency_key="k-u")
    await _until(lambda: len(sandbox.received.statuses) == 1)
    [status] = sandbox.received.statuses
    assert (status.provider_message_id, status.status, status.error_code, status.idempotency_key) == (sid, "undelivered", 30003, "k-u")


async def test_clear_control(sandbox: Sandbox) -> None:
    await sandbox.control(channel="whatsapp", code=131047, count=5)
    async with sandbox.http.delete(f"{sandbox.url}/sandbox/control") as resp:
        assert resp.status == 200
    assert await sandbox.wa.send(BSUID, Text("x"), idempotency_key="k")


async def test_bad_control_request(sandbox: Sandbox) -> None:
    async with sandbox.http.post(f"{sandbox.url}/sandbox/control", json={"channel": "fax", "code": 1}) as resp:
        assert resp.status == 400


async def test_closed_senders_raise_retryable_errors(sandbox_settings: Any) -> None:
    from bot.channels.senders import SmsSender, WhatsAppSender  # noqa: PLC0415

    wa, sms_sender = WhatsAppSender(sandbox_settings), SmsSender(sandbox_settings)
    await wa.aclose()
    await sms_sender.aclose()
    with pytest.raises(TransientSendError):
        await wa.send(BSUID, Text("x"), idempotency_key="k")
    with pytest.raises(TransientSendError):
        await sms_sender.send("+919800000005", Text("x"), idempotency_key="k")
