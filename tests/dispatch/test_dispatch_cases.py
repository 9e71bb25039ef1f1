"""Opt-out words, provider opt-out errors, failing turns and floods."""

from __future__ import annotations

from sqlalchemy import select, text

from bot.booking.service import BookingService
from bot.outbox.models import InboundMessage, OutboundMessage, RecipientOptOut
from bot.sandbox import payloads
from tests.dispatch.support import Env, SmsPatient, WhatsAppPatient, env_fixture, new_phone

small_bucket_env = env_fixture(inbound_burst=3, inbound_refill_per_s=0.001)


async def _org_id(env: Env, channel: str, account: str) -> int:
    org = await BookingService(env.db).org_for_channel_account(channel, account)
    assert org is not None
    return org.id


async def _opted_out(env: Env, phone: str) -> bool | None:
    async with env.db() as s:
        return await s.scalar(select(RecipientOptOut.opted_out).where(RecipientOptOut.recipient == phone))


async def test_sms_stop_records_the_opt_out_without_the_flow(env: Env) -> None:
    patient = SmsPatient(env, new_phone(), env.settings.twilio_from)
    status, body = await patient.say(" stop ")
    assert status == 200 and body.endswith("<Response/>")
    assert await _opted_out(env, patient.phone) is True
    booking = BookingService(env.db)
    org_id = await _org_id(env, "sms", env.settings.twilio_from)
    holder = await booking.find_or_create_patient(org_id, phone=patient.phone)
    assert await booking.has_consent(holder.id, channel="sms", purpose="service") is False
    # Twilio confirms STOP itself: we send nothing, and the message is still recorded once.
    assert await env.outbound() == []
    assert await env.count(InboundMessage) == 1

    assert (await patient.say("START"))[0] == 200
    assert await _opted_out(env, patient.phone) is False
    assert await booking.has_consent(holder.id, channel="sms", purpose="service") is True


async def test_sms_yes_is_an_answer_unless_the_number_opted_out(env: Env) -> None:
    patient = SmsPatient(env, new_phone(), env.settings.twilio_from)
    assert (await patient.say("yes"))[0] == 200
    assert await _opted_out(env, patient.phone) is None
    assert await env.outbound()  # the flow answered it


async def test_twilio_21610_marks_the_number_opted_out(env: Env) -> None:
    phone = new_phone()
    params = payloads.sms_status_params(account_sid=env.settings.twilio_account_sid,
                                        message_sid=payloads.new_sms_sid(), status="failed", to=phone,
                                        from_=env.settings.twilio_from, error_code=21610)
    status, _ = await env.post_sms(params, path="/webhooks/sms/status?key=in:sms:SMx:0")
    assert status == 200
    assert await _opted_out(env, phone) is True
    booking = BookingService(env.db)
    holder = await booking.find_or_create_patient(await _org_id(env, "sms", env.settings.twilio_from), phone=phone)
    assert await booking.has_consent(holder.id, channel="sms", purpose="service") is False


async def test_a_failing_turn_gets_an_apology(env: Env) -> None:
    patient = WhatsAppPatient(env, new_phone(), env.settings.whatsapp_phone_id)
    failing = payloads.new_wamid()
    # A database fault inside the booking core mid-turn (the patients table is briefly
    # unreachable); the dispatcher's own tables still work, so the apology is committed.
    async with env.db() as s, s.begin():
        await s.execute(text("ALTER TABLE patients RENAME TO patients_offline"))
    try:
        assert await patient.say("hi", message_id=failing) == 200
    finally:
        async with env.db() as s, s.begin():
            await s.execute(text("ALTER TABLE patients_offline RENAME TO patients"))
    replies = await env.outbound(OutboundMessage.in_reply_to == failing)
    assert len(replies) == 1
    assert replies[0].reply["type"] == "text"
    assert replies[0].reply["body"].startswith("Sorry, something went wrong")
    assert "Traceback" not in replies[0].reply["body"]
    metrics = await (await env.client.get("/metrics")).text()
    assert 'mymedic_turns_total{channel="whatsapp",outcome="error"} 1.0' in metrics
    # The state was not advanced by the failed turn; the next message is answered normally.
    again = payloads.new_wamid()
    assert await patient.say("hi", message_id=again) == 200
    assert (await env.outbound(OutboundMessage.in_reply_to == again))[0].reply["body"] != replies[0].reply["body"]


async def test_a_flood_is_cut_with_one_polite_warning(small_bucket_env: Env) -> None:
    env = small_bucket_env
    patient = WhatsAppPatient(env, new_phone(), env.settings.whatsapp_phone_id)
    ids = [payloads.new_wamid() for _ in range(7)]
    for message_id in ids:
        assert await patient.say("hi", message_id=message_id) == 200
    answered = {r.in_reply_to for r in await env.outbound(OutboundMessage.idempotency_key.like("in:%"))}
    assert answered == set(ids[:3])
    warnings = await env.outbound(OutboundMessage.idempotency_key.like("slow:%"))
    assert len(warnings) == 1
    assert warnings[0].in_reply_to == ids[3]
    assert await env.count(InboundMessage) == 3
