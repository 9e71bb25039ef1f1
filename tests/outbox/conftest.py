"""Fixtures of the delivery tests: the real app serving the provider emulators on a
real port (senders are the real pywa/twilio clients pointed at it), and a worker context
with a hand-moved clock."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from bot.app import create_app
from bot.config import Settings
from bot.sandbox.store import SandboxStore
from live_app import free_port
from outbox_helpers import Clock, Emulator, emulated
from workers.main import build_context, close_context


@pytest.fixture
async def emulator(settings: Settings, engine: Any, db: Any, redis: Any) -> AsyncIterator[Emulator]:
    port = free_port()
    app_settings = emulated(settings, port)
    server = TestServer(create_app(app_settings), host="127.0.0.1", port=port)
    await server.start_server()
    async with aiohttp.ClientSession() as http:
        try:
            yield Emulator(app_settings, SandboxStore(redis), http)
        finally:
            await server.close()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def ctx(emulator: Emulator, clock: Clock) -> AsyncIterator[dict[str, Any]]:
    context = await build_context(emulator.settings, clock=clock)
    yield context
    await close_context(context)
