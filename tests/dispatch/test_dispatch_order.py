"""Dedupe, per-user order and tenancy, through the signed webhook path and the real flows."""

from __future__ import annotations

import asyncio
import datetime as dt

from bot.dispatch.state import ConversationStore
from bot.outbox.models import InboundMessage, OutboundMessage
from bot.sandbox import payloads
from tests.dispatch.support import Env, WhatsAppPatient, new_phone, wait_for


def _answered_in_order(rows: list[OutboundMessage]) -> list[str]:
    """The inbound ids in the order their replies were written (each once). One user's
    turns never overlap, so for one user this is the order they were handled in; rows of
    different users may interleave (ids come from a sequence), so compare per user."""
    order: list[str] = []
    for row in rows:
        if row.in_reply_to and row.in_reply_to not in order:
            order.append(row.in_reply_to)
    return order


async def _envelope(env: Env, patient: WhatsAppPatient):
    org_id = (await env.outbound())[0].org_id
    return await ConversationStore(env.redis).load(org_id, "whatsapp", patient.phone_id, patient.user_id)


async def test_duplicate_webhook_runs_one_turn(env: Env) -> None:
    patient = WhatsAppPatient(env, new_phone(), env.settings.whatsapp_phone_id)
    payload = patient.payload("hi", message_id=payloads.new_wamid())
    first = await env.post_whatsapp(payload)
    replies = await env.outbound()
    assert first == 200 and replies
    # Redelivered once later and twice at the same moment: still one turn, one set of replies.
    assert await env.post_whatsapp(payload) == 200
    assert await asyncio.gather(env.post_whatsapp(payload), env.post_whatsapp(payload)) == [200, 200]
    assert [r.id for r in await env.outbound()] == [r.id for r in replies]
    assert await env.count(InboundMessage) == 1
    assert (await _envelope(env, patient)).turns == 1


async def test_duplicate_after_redis_loss_is_still_dropped_by_the_database(env: Env) -> None:
    patient = WhatsAppPatient(env, new_phone(), env.settings.whatsapp_phone_id)
    payload = patient.payload("hi", message_id=payloads.new_wamid())
    assert await env.post_whatsapp(payload) == 200
    replies = await env.outbound()
    await env.redis.flushdb()
    assert await env.post_whatsapp(payload) == 200
    assert [r.id for r in await env.outbound()] == [r.id for r in replies]


async def test_out_of_order_delivery_never_rolls_state_back(env: Env) -> None:
    patient = WhatsAppPatient(env, new_phone(), env.settings.whatsapp_phone_id)
    now = int(dt.datetime.now(dt.UTC).timestamp())
    later, earlier = payloads.new_wamid(), payloads.new_wamid()
    # The newer message arrives first; the older one is still answered, after it.
    assert await patient.say("hi", message_id=later, timestamp=now) == 200
    assert await patient.say("menu", message_id=earlier, timestamp=now - 120) == 200
    assert _answered_in_order(await env.outbound()) == [later, earlier]
    envelope = await _envelope(env, patient)
    assert envelope.turns == 2
    assert envelope.last_provider_ts == dt.datetime.fromtimestamp(now, dt.UTC)


async def test_twenty_messages_at_once_are_handled_in_arrival_order(env: Env) -> None:
    patient = WhatsAppPatient(env, new_phone(), env.settings.whatsapp_phone_id)
    ids = [payloads.new_wamid() for _ in range(20)]
    words = ["hi", "menu", "help", "1", "back", "2", "xyz", "menu", "help", "back"] * 2
    posts = []
    for k, (message_id, word) in enumerate(zip(ids, words, strict=True), start=1):
        posts.append(asyncio.ensure_future(patient.say(word, message_id=message_id)))
        # Fire the next one as soon as this one has arrived (joined the user's queue),
        # without waiting for its answer: all 20 are in flight together.
        await wait_for(lambda k=k: _arrived(patient, k))
    assert await asyncio.gather(*posts) == [200] * 20
    assert _answered_in_order(await env.outbound()) == ids
    assert (await _envelope(env, patient)).turns == 20


async def _arrived(patient: WhatsAppPatient, k: int) -> bool:
    return await patient.arrivals() >= k


async def test_one_batch_is_handled_in_payload_order(env: Env) -> None:
    patient = WhatsAppPatient(env, new_phone(), env.settings.whatsapp_phone_id)
    other = WhatsAppPatient(env, new_phone(), env.settings.whatsapp_phone_id)
    ids = [payloads.new_wamid() for _ in range(6)]
    # Meta batches: several messages (two users interleaved) in one POST.
    batch = patient.payload("hi", message_id=ids[0])
    messages = batch["entry"][0]["changes"][0]["value"]["messages"]
    contacts = batch["entry"][0]["changes"][0]["value"]["contacts"]
    for k, message_id in enumerate(ids[1:], start=1):
        who = patient if k % 2 == 0 else other
        extra = who.payload(["menu", "help", "1"][k % 3], message_id=message_id)["entry"][0]["changes"][0]["value"]
        messages.extend(extra["messages"])
        if who is other and len(contacts) == 1:
            contacts.extend(extra["contacts"])
    assert await env.post_whatsapp(batch) == 200
    order = _answered_in_order(await env.outbound())
    assert sorted(order) == sorted(ids)
    mine = [i for k, i in enumerate(ids) if k % 2 == 0]
    theirs = [i for k, i in enumerate(ids) if k % 2 == 1]
    assert [i for i in order if i in mine] == mine
    assert [i for i in order if i in theirs] == theirs


async def test_unknown_account_is_acknowledged_and_ignored(env: Env) -> None:
    stranger = WhatsAppPatient(env, new_phone(), "999999999999999")
    before = await env.snapshot()
    assert await stranger.say("hi") == 200
    assert await env.snapshot() == before
