"""Talking to a person: the bot stays silent until staff close the handoff."""

from __future__ import annotations

from sqlalchemy import select

from bot.inbox.models import HandoffMessageRow, HandoffRow
from bot.outbox.models import OutboundMessage, RecipientOptOut
from bot.sandbox import payloads
from tests.dispatch.support import Env, SmsPatient, WhatsAppPatient, new_phone


def _auth(env: Env) -> dict[str, str]:
    return {"Authorization": f"Bearer {env.settings.inbox_token}"}


async def test_inbox_api_needs_the_token(env: Env) -> None:
    assert (await env.client.get("/inbox/api/handoffs")).status == 401
    wrong = await env.client.get("/inbox/api/handoffs", headers={"Authorization": "Bearer nope"})
    assert wrong.status == 401
    ok = await env.client.get("/inbox/api/handoffs", headers=_auth(env))
    assert ok.status == 200
    assert await ok.json() == {"handoffs": []}
    assert (await env.client.post("/inbox/api/handoffs/1/close")).status == 401


async def test_handoff_silences_the_bot_until_closed(env: Env) -> None:
    patient = WhatsAppPatient(env, new_phone(), env.settings.whatsapp_phone_id)
    assert await patient.say("hi") == 200
    assert await patient.say("human") == 200
    listing = await (await env.client.get("/inbox/api/handoffs", headers=_auth(env))).json()
    assert len(listing["handoffs"]) == 1
    handoff = listing["handoffs"][0]
    assert handoff["user_id"] == patient.user_id and handoff["status"] == "open"

    replies_before = len(await env.outbound())
    quiet = payloads.new_wamid()
    assert await patient.say("is anyone there?", message_id=quiet) == 200
    assert len(await env.outbound()) == replies_before
    detail = await (await env.client.get(f"/inbox/api/handoffs/{handoff['id']}", headers=_auth(env))).json()
    assert [(m["direction"], m["body"]) for m in detail["messages"]] == [("in", "is anyone there?")]

    sent = await env.client.post(f"/inbox/api/handoffs/{handoff['id']}/reply", headers=_auth(env),
                                 json={"text": "Hello, this is Priya from the clinic.", "staff": "priya", "key": "k1"})
    assert sent.status == 201
    again = await env.client.post(f"/inbox/api/handoffs/{handoff['id']}/reply", headers=_auth(env),
                                  json={"text": "Hello, this is Priya from the clinic.", "staff": "priya", "key": "k1"})
    assert again.status == 200  # the same key again: already queued, nothing more sent
    staff_rows = await env.outbound(OutboundMessage.purpose == "staff_reply")
    assert len(staff_rows) == 1
    assert staff_rows[0].recipient == patient.user_id
    assert staff_rows[0].reply == {"type": "text", "body": "Hello, this is Priya from the clinic."}

    closed = await env.client.post(f"/inbox/api/handoffs/{handoff['id']}/close", headers=_auth(env),
                                   json={"staff": "priya"})
    assert closed.status == 200
    assert (await closed.json())["handoff"]["status"] == "closed"
    late = await env.client.post(f"/inbox/api/handoffs/{handoff['id']}/reply", headers=_auth(env),
                                 json={"text": "one more"})
    assert late.status == 409

    back = payloads.new_wamid()
    assert await patient.say("menu", message_id=back) == 200
    assert await env.outbound(OutboundMessage.in_reply_to == back)
    assert await env.count(HandoffRow) == 1
    assert await env.count(HandoffMessageRow) == 2


async def test_handoff_on_sms_and_unknown_ids(env: Env) -> None:
    patient = SmsPatient(env, new_phone(), env.settings.twilio_from)
    assert (await patient.say("hi"))[0] == 200
    assert (await patient.say("agent"))[0] == 200
    listing = await (await env.client.get("/inbox/api/handoffs", headers=_auth(env))).json()
    assert [h["channel"] for h in listing["handoffs"]] == ["sms"]
    assert (await env.client.post("/inbox/api/handoffs/99999/close", headers=_auth(env))).status == 404
    bad = await env.client.post(f"/inbox/api/handoffs/{listing['handoffs'][0]['id']}/reply", headers=_auth(env),
                                json={"text": ""})
    assert bad.status == 400


async def test_stop_is_honoured_during_a_handoff(env: Env) -> None:
    patient = WhatsAppPatient(env, new_phone(), env.settings.whatsapp_phone_id)
    assert await patient.say("hi") == 200
    assert await patient.say("human") == 200
    assert await env.count(HandoffRow) == 1
    stop = payloads.new_wamid()
    assert await patient.say("stop", message_id=stop) == 200
    confirmation = await env.outbound(OutboundMessage.in_reply_to == stop)
    assert [r.purpose for r in confirmation] == ["opt_out_confirmation"]
    async with env.db() as s:
        opted = await s.scalar(select(RecipientOptOut.opted_out).where(RecipientOptOut.recipient == patient.user_id))
    assert opted is True
    assert await env.count(HandoffMessageRow) == 0
