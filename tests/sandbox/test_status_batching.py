"""The WhatsApp emulator coalesces statuses into batched webhooks, as Meta does: a lone
send's statuses go out at once, under load several sends share one signed webhook, and a
message's statuses never overtake each other."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any

import aiohttp
from redis.asyncio import Redis

from bot.channels.whatsapp import parse_webhook
from bot.config import Settings
from bot.messages import Text
from bot.sandbox import payloads
from bot.sandbox.runtime import MAX_STATUSES_PER_WEBHOOK, SandboxRuntime, StatusBatcher
from bot.sandbox.store import SandboxStore

Sandbox = Any  # the fixture type lives in conftest.py (tests are not a package)


async def _until(predicate, attempts: int = 1000) -> None:  # noqa: ANN001
    for _ in range(attempts):
        if predicate():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not reached")


def _status(i: int, status: str = "sent", phone_id: str = "100000000000001") -> payloads.WhatsAppStatus:
    return payloads.WhatsAppStatus(phone_id=phone_id, message_id=f"wamid.{i}", status=status,
                                   recipient_phone=f"9198000000{i % 3:02d}", recipient_user_id=f"IN.{i % 3}",
                                   callback_data=f"key-{i}", timestamp=1_800_000_000 + i)


async def test_a_lone_send_reports_its_statuses_at_once_in_one_webhook(sandbox: Sandbox) -> None:
    started = time.perf_counter()
    wamid = await sandbox.wa.send("IN.1", Text("Hello"), idempotency_key="lone")
    await _until(lambda: len(sandbox.received.statuses) == 3)
    assert time.perf_counter() - started < 2.0  # no timer holds them back
    [webhook] = sandbox.received.status_webhooks
    assert [(s.provider_message_id, s.status, s.idempotency_key) for s in webhook] == [
        (wamid, "sent", "lone"), (wamid, "delivered", "lone"), (wamid, "read", "lone")]


async def test_under_load_several_sends_share_a_webhook_in_order(sandbox: Sandbox) -> None:
    sandbox.received.delay_s = 0.05  # our server is busy: statuses queue up meanwhile
    wamids = await asyncio.gather(*(sandbox.wa.send(f"IN.{i}", Text(str(i)), idempotency_key=f"k{i}")
                                    for i in range(40)))
    await _until(lambda: len(sandbox.received.statuses) == 120)
    webhooks = sandbox.received.status_webhooks
    assert len(webhooks) < 40
    assert max(len({s.provider_message_id for s in webhook}) for webhook in webhooks) > 1
    assert all(len(webhook) <= MAX_STATUSES_PER_WEBHOOK for webhook in webhooks)
    for wamid, key in zip(wamids, (f"k{i}" for i in range(40)), strict=True):
        mine = [s for s in sandbox.received.statuses if s.provider_message_id == wamid]
        assert [(s.status, s.idempotency_key) for s in mine] == [("sent", key), ("delivered", key), ("read", key)]


async def test_failed_status_mode_rides_with_other_sends(sandbox: Sandbox) -> None:
    sandbox.received.delay_s = 0.05
    await sandbox.control(channel="whatsapp", mode="status", code=131026, count=1, recipient="IN.bad")
    bad, *good = await asyncio.gather(sandbox.wa.send("IN.bad", Text("x"), idempotency_key="bad"),
                                      *(sandbox.wa.send(f"IN.{i}", Text("y"), idempotency_key=f"g{i}")
                                        for i in range(5)))
    await _until(lambda: len(sandbox.received.statuses) == 16)
    [failed] = [s for s in sandbox.received.statuses if s.provider_message_id == bad]
    assert (failed.status, failed.error_code, failed.idempotency_key) == ("failed", 131026, "bad")


async def test_a_webhook_takes_at_most_the_cap_and_keeps_queue_order() -> None:
    posted: list[list[str]] = []

    async def post(statuses: Sequence[payloads.WhatsAppStatus]) -> None:
        posted.append([f"{s.message_id}/{s.status}" for s in statuses])

    batcher = StatusBatcher(post, max_batch=100)
    batcher.add(_status(i, st) for i in range(84) for st in ("sent", "delivered", "read"))
    await _until(lambda: sum(map(len, posted)) == 252)
    assert [len(batch) for batch in posted] == [100, 100, 52]
    assert [item for batch in posted for item in batch] == [
        f"wamid.{i}/{st}" for i in range(84) for st in ("sent", "delivered", "read")]
    await batcher.aclose()


async def test_a_failing_post_does_not_stop_the_poster_and_is_delivered_again() -> None:
    posted: list[str] = []

    async def post(statuses: Sequence[payloads.WhatsAppStatus]) -> None:
        posted.append(statuses[0].message_id)
        if statuses[0].message_id == "wamid.1" and posted.count("wamid.1") < 3:
            raise RuntimeError("boom")

    batcher = StatusBatcher(post, retry_delays_s=(0.2, 0.2))
    batcher.add([_status(1)])
    await _until(lambda: len(posted) == 1)
    batcher.add([_status(2)])  # not held back by the failed one's retries
    await _until(lambda: len(posted) == 2)
    assert posted == ["wamid.1", "wamid.2"]
    await _until(lambda: posted.count("wamid.1") == 3)
    await asyncio.sleep(0.3)
    assert posted == ["wamid.1", "wamid.2", "wamid.1", "wamid.1"]  # accepted on its third delivery: no more
    await batcher.aclose()


async def test_a_webhook_is_given_up_after_its_last_retry() -> None:
    posted: list[str] = []

    async def post(statuses: Sequence[payloads.WhatsAppStatus]) -> None:
        posted.append(statuses[0].message_id)
        raise RuntimeError("down")

    batcher = StatusBatcher(post, retry_delays_s=(0.05, 0.05))
    batcher.add([_status(1)])
    await _until(lambda: len(posted) == 3)
    await asyncio.sleep(0.3)
    assert len(posted) == 3 and not batcher._retries
    await batcher.aclose()


async def test_statuses_our_server_refused_arrive_on_the_next_delivery(sandbox: Sandbox) -> None:
    sandbox.received.refuse_statuses = 1  # our server answers 503 once, as with its database busy
    wamid = await sandbox.wa.send("IN.1", Text("Hello"), idempotency_key="again")
    await _until(lambda: len(sandbox.received.statuses) == 3, attempts=400)
    assert sandbox.received.refuse_statuses == 0
    assert [(s.provider_message_id, s.status) for s in sandbox.received.statuses] == [
        (wamid, "sent"), (wamid, "delivered"), (wamid, "read")]


async def test_aclose_leaves_no_task_behind(sandbox_settings: Settings, redis: Redis) -> None:
    blocked = asyncio.Event()

    async def never_answers(statuses: Sequence[payloads.WhatsAppStatus]) -> None:
        blocked.set()
        await asyncio.Event().wait()

    async with aiohttp.ClientSession() as http:
        rt = SandboxRuntime(sandbox_settings, SandboxStore(redis), http)
        rt.whatsapp_statuses = StatusBatcher(never_answers)
        rt.whatsapp_statuses.add([_status(1), _status(2)])
        await blocked.wait()
        before = asyncio.all_tasks()
        await rt.aclose()
        leftover = [t for t in before if t is not asyncio.current_task() and not t.done()]
        assert leftover == []
        rt.whatsapp_statuses.add([_status(3)])  # after close: dropped, no new task
        assert not asyncio.all_tasks() - before


def test_one_webhook_carries_statuses_of_several_messages_and_numbers() -> None:
    statuses = [_status(1, "sent"), _status(2, "sent", phone_id="100000000000002"), _status(1, "delivered"),
                _status(4, "read"), _status(2, "delivered", phone_id="100000000000002")]
    payload = payloads.whatsapp_statuses_webhook(statuses)
    [entry] = payload["entry"]
    assert [c["value"]["metadata"]["phone_number_id"] for c in entry["changes"]] == [
        "100000000000001", "100000000000002"]
    first = entry["changes"][0]["value"]
    assert [(s["id"], s["status"]) for s in first["statuses"]] == [
        ("wamid.1", "sent"), ("wamid.1", "delivered"), ("wamid.4", "read")]
    assert first["contacts"] == [{"wa_id": "919800000001", "user_id": "IN.1"}]  # each recipient once
    parsed = parse_webhook(payload).statuses
    assert [(s.provider_message_id, s.status, s.idempotency_key) for s in parsed] == [
        ("wamid.1", "sent", "key-1"), ("wamid.1", "delivered", "key-1"), ("wamid.4", "read", "key-4"),
        ("wamid.2", "sent", "key-2"), ("wamid.2", "delivered", "key-2")]


def test_the_single_status_webhook_is_unchanged() -> None:
    payload = payloads.whatsapp_status_webhook(
        phone_id="100000000000001", message_id="wamid.X", status="delivered", recipient_phone="+919800000001",
        recipient_user_id=None, callback_data="k", timestamp=1_800_000_000)
    assert payload == {"object": "whatsapp_business_account", "entry": [{"id": payloads.WABA_ID, "changes": [{
        "field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": payloads.DISPLAY_PHONE, "phone_number_id": "100000000000001"},
            "statuses": [{"id": "wamid.X", "status": "delivered", "timestamp": "1800000000",
                          "recipient_id": "919800000001", "biz_opaque_callback_data": "k",
                          "pricing": {"billable": False, "pricing_model": "PMP", "category": "service",
                                      "type": "free_customer_service"}}],
            "contacts": [{"wa_id": "919800000001"}]}}]}]}
