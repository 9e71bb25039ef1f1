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

import warnings
import datetime as dt
from collections.abc import AsyncIterator
from zoneinfo import ZoneInfo

import aiohttp
import pytest
from redis.asyncio import Redis
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.booking import models as bm
from bot.booking.seed import seed_demo
from bot.config import Settings

from e2e_transcript import Harness
from live_app import running_app

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


@pytest.fixture
async def harness(settings: Settings, db: async_sessionmaker[AsyncSession], redis: Redis) -> AsyncIterator[Harness]:
    """The running app + worker, the seeded demo clinic and the pinned clock."""
    await seed_demo(db, settings)
    monday = await pick_monday(db)
    clock = PinnedClock(dt.datetime.combine(monday, dt.time(7, 0), IST).astimezone(dt.timezone.utc))
    async with running_app(settings, clock=clock) as (app_settings, _ctx):
        async with aiohttp.ClientSession() as http:
            harness = Harness(settings=app_settings, http=http, db=db, redis=redis, monday=monday,
                              clock=clock)
            yield harness
        if harness.reordered:
            # Not a failure of the test (goldens list replies in queue order), but a
            # patient would read them in this order: see the report in the outbox.
            warnings.warn("replies of one turn reached the emulator out of queue order: "
                          + "; ".join(harness.reordered), stacklevel=1)
