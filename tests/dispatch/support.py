"""Shared fixtures and helpers of the inbound-path tests (dispatch, web, inbox):
a seeded demo clinic, the real app on a real port, and patients that POST signed webhooks."""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from redis.asyncio import Redis
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.app import create_app
from bot.config import Settings
from bot.dispatch.keys import SEQ_PREFIX, user_key
from bot.inbox.models import HandoffMessageRow, HandoffRow
from bot.outbox.models import InboundMessage, OutboundMessage, RecipientOptOut
from bot.sandbox import payloads
from live_app import free_port

_counter = itertools.count(1)


@dataclass
class Env:
    """The running app and what the tests need to talk to it."""

    settings: Settings
    client: TestClient
    db: async_sessionmaker[AsyncSession]
    redis: Redis

    # -- posting webhooks ----------------------------------------------------------
    async def post_whatsapp(self, payload: dict[str, Any]) -> int:
        body, headers = payloads.signed_json(payload, self.settings.whatsapp_app_secret)
        resp = await self.client.post("/webhooks/whatsapp", data=body, headers=headers)
        await resp.read()
        return resp.status

    async def post_sms(self, params: dict[str, str], path: str = "/webhooks/sms") -> tuple[int, str]:
        headers = payloads.signed_form(self.settings.public_url + path, params, self.settings.twilio_auth_token)
        resp = await self.client.post(path, data=params, headers=headers)
        return resp.status, await resp.text()

    # -- looking at the record -----------------------------------------------------
    async def count(self, model: Any, *where: Any) -> int:
        async with self.db() as s:
            return int(await s.scalar(select(func.count()).select_from(model).where(*where)) or 0)

    async def outbound(self, *where: Any) -> list[OutboundMessage]:
        async with self.db() as s:
            return list(await s.scalars(select(OutboundMessage).where(*where).order_by(OutboundMessage.id)))

    async def snapshot(self) -> dict[str, Any]:
        """Everything a webhook could change: row counts and every Redis key with its value."""
        counts = {m.__tablename__: await self.count(m) for m in
                  (InboundMessage, OutboundMessage, RecipientOptOut, HandoffRow, HandoffMessageRow)}
        keys = {}
        for key in sorted(await self.redis.keys("*")):
            kind = (await self.redis.type(key)).decode()
            keys[key] = kind if kind != "string" else await self.redis.get(key)
        return {"rows": counts, "redis": keys}


@dataclass
class WhatsAppPatient:
    """A WhatsApp user (with BSUID and phone) writing to one of our numbers."""

    env: Env
    phone: str
    phone_id: str

    @property
    def user_id(self) -> str:
        return payloads.bsuid_for(self.phone)

    @property
    def user_key(self) -> str:
        return user_key("whatsapp", self.phone_id, self.user_id)

    def payload(self, text: str, *, message_id: str | None = None, timestamp: int | None = None) -> dict[str, Any]:
        return payloads.whatsapp_message_webhook(
            phone_id=self.phone_id, message=payloads.wa_text(text), phone=self.phone, user_id=self.user_id,
            message_id=message_id, timestamp=timestamp,
        )

    async def say(self, text: str, **kw: Any) -> int:
        return await self.env.post_whatsapp(self.payload(text, **kw))

    async def arrivals(self) -> int:
        """How many of this user's messages reached the per-user FIFO so far."""
        raw = await self.env.redis.get(SEQ_PREFIX + self.user_key)
        return int(raw or 0)


@dataclass
class SmsPatient:
    env: Env
    phone: str
    to: str

    def params(self, body: str, sid: str | None = None) -> dict[str, str]:
        return payloads.sms_inbound_params(account_sid=self.env.settings.twilio_account_sid, to=self.to,
                                           from_=self.phone, body=body, message_sid=sid)

    async def say(self, body: str, sid: str | None = None) -> tuple[int, str]:
        return await self.env.post_sms(self.params(body, sid))


def new_phone() -> str:
    return f"+9198{next(_counter):08d}"


async def wait_for(predicate: Callable[[], Any], *, timeout_s: float = 20.0) -> None:
    """Wait for an event (never a duration): poll until `predicate()` is truthy."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        result = predicate()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        if loop.time() > deadline:
            raise AssertionError("condition not reached")
        await asyncio.sleep(0.01)


async def start_env(settings: Settings, db: async_sessionmaker[AsyncSession], redis: Redis,
                    **overrides: Any) -> AsyncIterator[Env]:
    from bot.booking.seed import seed_demo

    await seed_demo(db, settings)
    port = free_port()
    # The app must know its own public URL (Twilio signatures are computed over it), and
    # its senders talk to the sandbox emulators it serves itself.
    settings = settings.with_(**{
        "public_url": f"http://127.0.0.1:{port}", "port": port,
        "whatsapp_api_base": f"http://127.0.0.1:{port}/sandbox/graph",
        "twilio_api_base": f"http://127.0.0.1:{port}/sandbox/twilio",
        **overrides,
    })
    server = TestServer(create_app(settings), host="127.0.0.1", port=port)
    client = TestClient(server)
    await client.start_server()
    try:
        yield Env(settings=settings, client=client, db=db, redis=redis)
    finally:
        await client.close()


def env_fixture(**overrides: Any) -> Any:
    """A pytest fixture giving an `Env` (optionally with settings changed)."""

    @pytest.fixture
    async def _env(settings: Settings, db: async_sessionmaker[AsyncSession], redis: Redis) -> AsyncIterator[Env]:
        async for env in start_env(settings, db, redis, **overrides):
            yield env

    return _env


def replies_text(rows: list[OutboundMessage]) -> list[str]:
    """The visible text of stored replies (for assertions on what the patient would read)."""
    out = []
    for row in rows:
        reply = row.reply
        out.append(str(reply.get("body") or reply.get("name") or json.dumps(reply)))
    return out
