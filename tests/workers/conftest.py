"""Fixtures of the time-driven worker tests: the real app (provider emulators, tele
redirect, sandbox pay page) on a real port, a hand-moved clock, a worker context from
`build_context`, the booking core on that clock, and a small clinic."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from bot.app import create_app
from bot.app_keys import CLOCK
from bot.booking.service import BookingService
from bot.config import Settings
from bot.sandbox.store import SandboxStore
from live_app import free_port
from worker_helpers import App, Clinic, Clock, build_clinic
from workers.main import build_context, close_context


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def app(settings: Settings, engine: Any, db: Any, redis: Any, clock: Clock) -> AsyncIterator[App]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    app_settings = settings.with_(port=port, public_url=base, sandbox=True,
                                  whatsapp_api_base=f"{base}/sandbox/graph",
                                  twilio_api_base=f"{base}/sandbox/twilio")
    web_app = create_app(app_settings)
    web_app[CLOCK] = clock   # the tele redirect and the pay page read the test's clock
    server = TestServer(web_app, host="127.0.0.1", port=port)
    await server.start_server()
    async with aiohttp.ClientSession() as http:
        try:
            yield App(app_settings, SandboxStore(redis), http)
        finally:
            await server.close()


@pytest.fixture
async def ctx(app: App, clock: Clock) -> AsyncIterator[dict[str, Any]]:
    context = await build_context(app.settings, clock=clock)
    yield context
    await close_context(context)


@pytest.fixture
def booking(ctx: dict[str, Any]) -> BookingService:
    return ctx["booking"]  # type: ignore[no-any-return]


@pytest.fixture
async def clinic(db: Any) -> Clinic:
    return await build_clinic(db)


