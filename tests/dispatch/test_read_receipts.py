"""Each WhatsApp message is marked read with the typing indicator; a failing call only logs."""

from __future__ import annotations

from bot.outbox.models import OutboundMessage
from bot.sandbox import payloads
from bot.sandbox.store import SandboxStore
from tests.dispatch.support import Env, WhatsAppPatient, env_fixture, free_port, new_phone, wait_for

graph_down_env = env_fixture(whatsapp_api_base=f"http://127.0.0.1:{free_port()}")


async def test_message_is_marked_read_with_typing_indicator(env: Env) -> None:
    patient = WhatsAppPatient(env, new_phone(), env.settings.whatsapp_phone_id)
    message_id = payloads.new_wamid()
    assert await patient.say("hi", message_id=message_id) == 200
    store = SandboxStore(env.redis)

    async def typing_shown() -> bool:
        return await store.read_state(message_id) == "typing"

    await wait_for(typing_shown)


async def test_read_receipt_failure_does_not_stop_the_reply(graph_down_env: Env) -> None:
    env = graph_down_env
    patient = WhatsAppPatient(env, new_phone(), env.settings.whatsapp_phone_id)
    message_id = payloads.new_wamid()
    assert await patient.say("hi", message_id=message_id) == 200
    assert await env.outbound(OutboundMessage.in_reply_to == message_id)
