"""A live sandbox: the real emulators and chat API on a real port, plus stand-in webhook
routes that verify signatures with bot.channels and record what arrived (so these tests
do not depend on the dispatcher), and the real pywa / twilio senders pointed at it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer, unused_port
from redis.asyncio import Redis

from bot.app_keys import REDIS
from bot.channels import sms, whatsapp
from bot.channels.errors import ChannelError
from bot.channels.senders import SmsSender, WhatsAppSender
from bot.config import Settings
from bot.messages import Inbound, StatusUpdate
from bot.sandbox import web as sandbox_web


@dataclass
class Received:
    """What reached the stand-in webhooks."""

    inbounds: list[Inbound] = field(default_factory=list)
    statuses: list[StatusUpdate] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)
    status_webhooks: list[tuple[StatusUpdate, ...]] = field(default_factory=list)  # WhatsApp, one per POST
    delay_s: float = 0.0  # how long the stand-in takes to answer (a busy server)
    refuse_statuses: int = 0  # answer this many status webhooks 503 first (a database busy)


RECEIVED: web.AppKey[Received] = web.AppKey("received", Received)


async def _wa_webhook(request: web.Request) -> web.Response:
    settings: Settings = request.app[sandbox_web.SANDBOX].settings
    body = await request.read()
    try:
        whatsapp.verify_signature(body, request.headers.get(whatsapp.SIGNATURE_HEADER), settings.whatsapp_app_secret)
        batch = whatsapp.parse_webhook(await request.json())
    except ChannelError as exc:
        request.app[RECEIVED].rejected.append(type(exc).__name__)
        raise web.HTTPForbidden() from None
    received = request.app[RECEIVED]
    if received.delay_s:
        await asyncio.sleep(received.delay_s)
    if batch.statuses and received.refuse_statuses > 0:
        received.refuse_statuses -= 1
        raise web.HTTPServiceUnavailable()
    received.inbounds.extend(batch.inbounds)
    received.statuses.extend(batch.statuses)
    if batch.statuses:
        received.status_webhooks.append(batch.statuses)
    return web.Response(text="ok")


async def _sms_webhook(request: web.Request) -> web.Response:
    settings: Settings = request.app[sandbox_web.SANDBOX].settings
    form = await request.post()
    url = f"{settings.public_url}{request.path_qs}"
    try:
        sms.validate_signature(url, form, request.headers.get(sms.SIGNATURE_HEADER), settings.twilio_auth_token)
        if request.path.endswith("/status"):
            request.app[RECEIVED].statuses.append(sms.parse_status(form, request.query.get("key")))
        else:
            request.app[RECEIVED].inbounds.append(sms.parse_inbound(form))
    except ChannelError as exc:
        request.app[RECEIVED].rejected.append(type(exc).__name__)
        raise web.HTTPForbidden() from None
    return web.Response(text="<Response/>", content_type="text/xml")


@dataclass
class Sandbox:
    url: str
    settings: Settings
    received: Received
    redis: Redis
    http: aiohttp.ClientSession
    wa: WhatsAppSender
    sms: SmsSender

    async def control(self, **body: Any) -> None:
        async with self.http.post(f"{self.url}/sandbox/control", json=body) as resp:
            assert resp.status == 200, await resp.text()


@pytest.fixture
def sandbox_settings(var_dir: Path, database_url: str, redis_url: str) -> Settings:
    port = unused_port()
    return Settings.from_env({
        "MYMEDIC_VAR_DIR": str(var_dir), "DATABASE_URL": database_url, "REDIS_URL": redis_url,
        "SANDBOX": "1", "PORT": str(port), "PUBLIC_URL": f"http://127.0.0.1:{port}",
    })


@pytest.fixture
async def sandbox(sandbox_settings: Settings, redis: Redis) -> AsyncIterator[Sandbox]:
    settings = sandbox_settings
    app = web.Application()
    app[REDIS] = redis
    app[RECEIVED] = Received()
    sandbox_web.setup(app, settings)
    app.router.add_post("/webhooks/whatsapp", _wa_webhook)
    app.router.add_post("/webhooks/sms", _sms_webhook)
    app.router.add_post("/webhooks/sms/status", _sms_webhook)
    server = TestServer(app, host="127.0.0.1", port=settings.port)
    await server.start_server()
    wa, sms_sender = WhatsAppSender(settings), SmsSender(settings)
    async with aiohttp.ClientSession() as http:
        yield Sandbox(settings.public_url, settings, app[RECEIVED], redis, http, wa, sms_sender)
    await wa.aclose()
    await sms_sender.aclose()
    await server.close()


@pytest.fixture
def quiet_settings(sandbox_settings: Settings) -> Settings:
    """Sandbox settings whose emulators report only `delivered` (as a benchmark may set)."""
    return sandbox_settings.with_(extra={**sandbox_settings.extra, "MYMEDIC_SANDBOX_STATUSES": "delivered"})
