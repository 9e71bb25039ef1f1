"""`/metrics` serves the app's own registry, including what the webhooks did."""

from __future__ import annotations

from tests.dispatch.support import Env, WhatsAppPatient, new_phone


async def test_metrics_after_a_turn(env: Env) -> None:
    patient = WhatsAppPatient(env, new_phone(), env.settings.whatsapp_phone_id)
    assert await patient.say("hi") == 200
    resp = await env.client.get("/metrics")
    assert resp.status == 200
    text = await resp.text()
    assert 'mymedic_webhook_ack_seconds_count{channel="whatsapp",status="200"} 1.0' in text
    assert 'mymedic_turns_total{channel="whatsapp",outcome="ok"} 1.0' in text
    assert 'mymedic_inbound_messages_total{channel="whatsapp",result="handled"} 1.0' in text
    # One reply enqueued and no worker running: the send jobs wait in the arq queue.
    depth = [line for line in text.splitlines() if line.startswith("mymedic_queue_depth ")]
    assert depth and float(depth[0].split()[1]) >= 1
    assert "mymedic_dead_letters 0.0" in text
