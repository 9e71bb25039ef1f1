"""The end-to-end harness: the real app on a real port, a real arq worker in the test loop,
and scripted patients on WhatsApp and SMS.

Every message a patient sends is a signed Meta / Twilio webhook POSTed to the app's real
routes; the dispatcher runs the flow, commits the outbound rows and enqueues the sends;
the worker sends them with the real pywa / twilio clients to the sandbox emulators, where
the patient reads them. Nothing of ours is replaced.

Time: the booking core, the conversation and the sandbox pay page read one pinned clock
(a Monday 07:00 in Kolkata, a week or two ahead, clear of the demo holidays), so slot
lists are the same on every run; dates in the goldens are written relative to that
Monday ("Tue D+1"). The worker keeps real time: the WhatsApp 24-hour window is measured
from the webhooks' own (real) timestamps.
"""

from __future__ import annotations

import asyncio
import dataclasses
import warnings
import datetime as dt
from collections.abc import AsyncIterator
from zoneinfo import ZoneInfo

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from arq.worker import Worker
from redis.asyncio import Redis
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.app import create_app
from bot.app_keys import CLOCK, SERVICES
from bot.booking import models as bm
from bot.booking.seed import seed_demo
from bot.booking.service import BookingService
from bot.config import Settings
from bot.dispatch.assembly import DISPATCHER
from workers import registry
from workers.main import build_context, close_context

from e2e_transcript import Harness

IST = ZoneInfo("Asia/Kolkata")
HOLIDAY_MARGIN_DAYS = 21


class PinnedClock:
    """A clock that does not move (every turn of a test happens at the same instant)."""

    def __init__(self, now: dt.datetime) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now


async def pick_monday(db: async_sessionmaker[AsyncSession]) -> dt.date:
    """The first Monday at least two days ahead whose next three weeks hold no holiday."""
    async with db() as s:
        holidays = set(await s.scalars(select(bm.Holiday.day)))
    day = dt.datetime.now(IST).date() + dt.timedelta(days=2)
    while True:
        day += dt.timedelta(days=(7 - day.weekday()) % 7)
        if not any(day <= h < day + dt.timedelta(days=HOLIDAY_MARGIN_DAYS) for h in holidays):
            return day
        day += dt.timedelta(days=1)


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
async def harness(settings: Settings, db: async_sessionmaker[AsyncSession], redis: Redis) -> AsyncIterator[Harness]:
    """The running app + worker, the seeded demo clinic and the pinned clock."""
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    # The emulators report only "delivered" (not sent/delivered/read): each status is a
    # webhook and a commit, and the status path has its own tests in tests/outbox.
    app_settings = settings.with_(port=port, public_url=base, sandbox=True,
                                  whatsapp_api_base=f"{base}/sandbox/graph",
                                  twilio_api_base=f"{base}/sandbox/twilio",
                                  extra={**settings.extra, "MYMEDIC_SANDBOX_STATUSES": "delivered"})
    await seed_demo(db, app_settings)
    monday = await pick_monday(db)
    clock = PinnedClock(dt.datetime.combine(monday, dt.time(7, 0), IST).astimezone(dt.timezone.utc))

    app = create_app(app_settings)
    app[CLOCK] = clock                                              # the sandbox pay page
    app[SERVICES]["booking"] = BookingService(db, clock=clock)      # the dispatcher's booking core and payments

    async def pin_dispatcher(app: web.Application) -> AsyncIterator[None]:
        # The assembly builds the dispatcher without a clock (it does not read app[CLOCK]);
        # give the conversation the same pinned time as the booking core.
        dispatcher = app[DISPATCHER]
        dispatcher.clock = clock
        dispatcher.deps = dataclasses.replace(dispatcher.deps, clock=clock)
        yield

    app.cleanup_ctx.append(pin_dispatcher)
    server = TestServer(app, host="127.0.0.1", port=port)
    await server.start_server()

    ctx = await build_context(app_settings)
    worker = Worker(functions=registry.functions(), redis_pool=ctx["redis"], ctx=ctx, burst=False,
                    handle_signals=False, poll_delay=0.01, keep_result=0)
    task = asyncio.create_task(worker.async_run())
    try:
        async with aiohttp.ClientSession() as http:
            harness = Harness(settings=app_settings, http=http, db=db, redis=redis, monday=monday,
                              clock=clock)
            yield harness
        if harness.reordered:
            # Not a failure of the test (goldens list replies in queue order), but a
            # patient would read them in this order: see the report in the outbox.
            warnings.warn("replies of one turn reached the emulator out of queue order: "
                          + "; ".join(harness.reordered), stacklevel=1)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await close_context(ctx)
        await server.close()
