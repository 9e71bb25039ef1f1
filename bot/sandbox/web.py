"""Sandbox routes (only with SANDBOX=1): the two provider emulators, a control endpoint for
tests, and the browser chat page with its small JSON API.

    POST   /sandbox/graph/v{version}/{phone_id}/messages        WhatsApp Cloud API emulator
    POST   /sandbox/twilio/2010-04-01/Accounts/{sid}/Messages.json   Twilio emulator
    POST   /sandbox/control   {"channel", "mode": "error"|"status", "code", "count", "recipient"?}
    DELETE /sandbox/control   clear queued failures
    GET    /sandbox           the chat page
    POST   /sandbox/api/register  {"channel", "phone", "user_id"?, "lang"?}
    POST   /sandbox/api/send      {"channel", "phone", "user_id"?, "text" | "choice_id"+"choice_title" | "latitude"+"longitude"}
    GET    /sandbox/api/messages?channel=&user=&since=&wait=   the bot's sends to that user
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import jinja2
from aiohttp import web

from bot.app_keys import REDIS
from bot.config import Settings
from bot.sandbox import graph, payloads, twilio_api
from bot.sandbox.runtime import CALLBACK_TIMEOUT_S, SANDBOX, SandboxRuntime
from bot.sandbox.store import SandboxStore

log = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
STATIC_DIR = HERE / "static"
JINJA: web.AppKey[jinja2.Environment] = web.AppKey("sandbox_jinja")
MAX_WAIT_S = 25.0
POLL_INTERVAL_S = 0.02
LANGUAGES = (("en", "English"), ("hi", "हिन्दी"), ("ta", "தமிழ்"))


def setup(app: web.Application, settings: Settings) -> None:
    """Add the sandbox routes and its runtime to `app`."""
    app[JINJA] = jinja2.Environment(loader=jinja2.FileSystemLoader(HERE / "templates"), autoescape=True)

    async def runtime_ctx(app: web.Application) -> AsyncIterator[None]:
        http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=CALLBACK_TIMEOUT_S))
        app[SANDBOX] = SandboxRuntime(settings, SandboxStore(app[REDIS]), http)
        yield
        await app[SANDBOX].aclose()

    app.cleanup_ctx.append(runtime_ctx)
    r = app.router
    r.add_post("/sandbox/graph/v{version}/{phone_id}/messages", graph.messages_endpoint)
    r.add_post("/sandbox/twilio/2010-04-01/Accounts/{sid}/Messages.json", twilio_api.messages_endpoint)
    r.add_post("/sandbox/control", control)
    r.add_delete("/sandbox/control", clear_control)
    r.add_get("/sandbox", page)
    r.add_static("/sandbox/static", STATIC_DIR)
    r.add_post("/sandbox/api/register", register)
    r.add_post("/sandbox/api/send", send)
    r.add_get("/sandbox/api/messages", messages)


async def control(request: web.Request) -> web.Response:
    """Queue failures: the next `count` sends on `channel` (to `recipient`, or anyone) fail.

    mode "error": the API call itself answers with provider error `code`;
    mode "status": the call succeeds and a failed status with `code` follows by webhook.
    """
    rt = request.app[SANDBOX]
    try:
        body = await request.json()
        channel = body["channel"]
        if channel not in ("whatsapp", "sms"):
            raise ValueError(channel)
        failure = {"mode": body.get("mode", "error"), "code": int(body["code"])}
        if body.get("status"):
            failure["status"] = int(body["status"])
        count = int(body.get("count", 1))
        recipient = body.get("recipient")
        if recipient:
            recipient = str(recipient) if channel == "sms" else str(recipient).lstrip("+")
    except (ValueError, KeyError, TypeError):
        raise web.HTTPBadRequest(text="expected channel, code, [mode, count, recipient, status]") from None
    await rt.store.queue_failures(channel, failure, count, recipient)
    return web.json_response({"queued": count})


async def clear_control(request: web.Request) -> web.Response:
    await request.app[SANDBOX].store.clear_failures()
    return web.json_response({"cleared": True})


async def page(request: web.Request) -> web.Response:
    settings = request.app[SANDBOX].settings
    html = request.app[JINJA].get_template("chat.html").render(
        languages=LANGUAGES, sms_number=settings.twilio_from, phone_id=settings.whatsapp_phone_id,
    )
    return web.Response(text=html, content_type="text/html")


def _user_for(channel: str, phone: str, user_id: str | None) -> str:
    """The key the chat shows a user's messages under: BSUID if any, else wa_id / E.164."""
    if channel == "sms":
        return phone
    return user_id or phone.lstrip("+")


async def _json(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError:
        raise web.HTTPBadRequest(text="expected JSON") from None
    if not isinstance(body, dict) or body.get("channel") not in ("whatsapp", "sms"):
        raise web.HTTPBadRequest(text="channel must be whatsapp or sms")
    phone = str(body.get("phone") or "").strip().replace(" ", "")
    if not phone.lstrip("+").isdigit() or len(phone.lstrip("+")) < 6:
        raise web.HTTPBadRequest(text="phone must be a number like +919812345678")
    body["phone"] = phone if phone.startswith("+") else f"+{phone}"
    return body


def _user_id(body: dict[str, Any]) -> str | None:
    """The WhatsApp BSUID to send as: given, else derived from the phone (unless bsuid=false)."""
    if body["channel"] != "whatsapp":
        return None
    return str(body.get("user_id") or "") or (payloads.bsuid_for(body["phone"]) if body.get("bsuid", True) else None)


async def _register(rt: SandboxRuntime, channel: str, phone: str, user_id: str | None, lang: str | None) -> str:
    user = _user_for(channel, phone, user_id)
    if channel == "whatsapp":
        await rt.store.alias("whatsapp", phone.lstrip("+"), user)
        if user_id:
            await rt.store.alias("whatsapp", user_id, user)
    if lang:
        # A hint for whoever wants it (the bot still asks the language on first contact).
        await rt.store.set_language(channel, user, lang)
    return user


async def register(request: web.Request) -> web.Response:
    """Tell the emulators which chat a phone / BSUID belongs to."""
    body = await _json(request)
    user_id = _user_id(body)
    user = await _register(request.app[SANDBOX], body["channel"], body["phone"], user_id, body.get("lang"))
    return web.json_response({"user": user})


async def send(request: web.Request) -> web.Response:
    """Turn a chat-page action into a signed provider webhook and POST it to our own webhook."""
    rt = request.app[SANDBOX]
    settings = rt.settings
    body = await _json(request)
    channel, phone = body["channel"], body["phone"]
    if channel == "whatsapp":
        user_id = _user_id(body)
        user = await _register(rt, channel, phone, user_id, body.get("lang"))
        if body.get("choice_id"):
            title = str(body.get("choice_title") or body["choice_id"])
            message = (payloads.wa_button_reply if body.get("choice_kind") == "buttons" else payloads.wa_list_reply)(str(body["choice_id"]), title)
        elif body.get("latitude") is not None and body.get("longitude") is not None:
            try:
                latitude, longitude = float(body["latitude"]), float(body["longitude"])
            except (TypeError, ValueError):
                raise web.HTTPBadRequest(text="latitude and longitude must be numbers") from None
            message = payloads.wa_location(latitude, longitude, body.get("name"))
        elif str(body.get("text") or "").strip():
            message = payloads.wa_text(str(body["text"]))
        else:
            raise web.HTTPBadRequest(text="nothing to send")
        payload = payloads.whatsapp_message_webhook(phone_id=settings.whatsapp_phone_id, message=message, phone=phone, user_id=user_id)
        data, headers = payloads.signed_json(payload, settings.whatsapp_app_secret)
        status = await rt.post_webhook("/webhooks/whatsapp", data=data, headers=headers)
        message_id = payload["entry"][0]["changes"][0]["value"]["messages"][0]["id"]
    else:
        user = await _register(rt, channel, phone, None, body.get("lang"))
        text = str(body.get("text") or "")
        if not text.strip():
            raise web.HTTPBadRequest(text="nothing to send")
        params = payloads.sms_inbound_params(account_sid=settings.twilio_account_sid, to=settings.twilio_from, from_=phone, body=text)
        headers = payloads.signed_form(f"{settings.public_url}/webhooks/sms", params, settings.twilio_auth_token)
        status = await rt.post_webhook("/webhooks/sms", data=params, headers=headers)
        message_id = params["MessageSid"]
    return web.json_response({"webhook_status": status, "user": user, "message_id": message_id})


async def messages(request: web.Request) -> web.Response:
    """The bot's sends to one user from index `since`; waits up to `wait` s for a new one."""
    rt = request.app[SANDBOX]
    q = request.query
    channel, user = q.get("channel", ""), q.get("user", "")
    if channel not in ("whatsapp", "sms") or not user:
        raise web.HTTPBadRequest(text="channel and user are required")
    if channel == "whatsapp":
        user = user.lstrip("+")
    try:
        since = max(0, int(q.get("since", "0")))
        wait_s = min(MAX_WAIT_S, max(0.0, float(q.get("wait", "0"))))
    except ValueError:
        raise web.HTTPBadRequest(text="since and wait must be numbers") from None
    deadline = time.monotonic() + wait_s
    while True:
        found = await rt.store.messages(channel, user, since)
        if found or time.monotonic() >= deadline:
            break
        await asyncio.sleep(POLL_INTERVAL_S)
    return web.json_response({"messages": found, "next": since + len(found)})
