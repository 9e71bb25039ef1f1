"""The whole pipeline on a live port for the browser: `create_app(settings)` served by a
real aiohttp server (PUBLIC_URL is that server's URL, so the Twilio signatures the sandbox
computes match), the real arq worker (`workers.main` settings) running in the test loop,
and the demo clinic seeded. The browser types into `/sandbox`; its messages travel the
signed webhook → dispatcher → flows → outbox → worker → pywa / twilio → emulator → page.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from aiohttp.test_utils import TestServer
from arq.worker import Worker
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.app import create_app
from bot.booking.seed import seed_demo
from bot.config import Settings
from browser_support import chromium_page
from workers.main import worker_kwargs
from live_app import free_port


@dataclass(frozen=True)
class Live:
    """The running app: its base URL, settings and database."""

    url: str
    settings: Settings
    db: async_sessionmaker[AsyncSession]


@pytest.fixture
async def live(settings: Settings, db: async_sessionmaker[AsyncSession], redis: Redis) -> AsyncIterator[Live]:
    """The app on a free port, the worker polling its queue, the demo clinic seeded."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    app_settings = settings.with_(port=port, public_url=base, sandbox=True,
                                  whatsapp_api_base=f"{base}/sandbox/graph",
                                  twilio_api_base=f"{base}/sandbox/twilio")
    await seed_demo(db, app_settings)
    server = TestServer(create_app(app_settings), host="127.0.0.1", port=port)
    await server.start_server()
    # The deployment's worker settings (functions, cron jobs, startup context); only the
    # signal handling is the test loop's, and polling is quicker so the page answers soon.
    worker = Worker(**worker_kwargs(app_settings, handle_signals=False, poll_delay=0.01))
    task = asyncio.create_task(worker.async_run())
    try:
        yield Live(base, app_settings, db)
    finally:
        with contextlib.suppress(asyncio.CancelledError):
            await worker.close()     # stops polling, runs on_shutdown (closes the senders, engine)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await server.close()


@pytest.fixture
async def page(live: Live) -> AsyncIterator[Any]:
    """A headless Chromium page (skipped without Chromium unless MYMEDIC_REQUIRE_BROWSER=1)."""
    async with chromium_page(viewport={"width": 900, "height": 1400}) as pg:
        yield pg
