"""Helpers of the delivery tests: a hand-moved clock, the emulator handle, a burst worker."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp
from arq.worker import Worker
from sqlalchemy import select

from bot.config import Settings
from bot.db import utcnow
from bot.messages import Channel, Reply, Text
from bot.outbox import api
from bot.outbox.models import OutboundMessage
from bot.sandbox.store import SandboxStore
from workers import registry

WA_USER = "919800000001"
SMS_USER = "+919800000002"


class Clock:
    """A clock the test moves by hand (the worker context reads it)."""

    def __init__(self, now: dt.datetime | None = None) -> None:
        self.now = now or utcnow()

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **delta: float) -> dt.datetime:
        self.now += dt.timedelta(**delta)
        return self.now


def emulated(settings: Settings, port: int) -> Settings:
    base = f"http://127.0.0.1:{port}"
    return settings.with_(port=port, public_url=base, sandbox=True,
                          whatsapp_api_base=f"{base}/sandbox/graph", twilio_api_base=f"{base}/sandbox/twilio")


@dataclass
class Emulator:
    """The running app: its settings (senders point here), the sandbox's record, control."""

    settings: Settings
    store: SandboxStore
    http: aiohttp.ClientSession

    async def fail_next(self, channel: str, code: int, *, count: int = 1, mode: str = "error",
                        recipient: str | None = None) -> None:
        body: dict[str, Any] = {"channel": channel, "code": code, "count": count, "mode": mode}
        if recipient:
            body["recipient"] = recipient
        async with self.http.post(f"{self.settings.public_url}/sandbox/control", json=body) as resp:
            assert resp.status == 200, await resp.text()

    async def count(self, channel: str, user: str) -> int:
        return await self.store.count(channel, user.lstrip("+") if channel == "whatsapp" else user)

    async def sent(self, channel: str, user: str) -> list[dict[str, Any]]:
        return await self.store.messages(channel, user.lstrip("+") if channel == "whatsapp" else user)


async def run_burst(ctx: dict[str, Any], *, max_jobs: int = -1, functions: Sequence[str] = registry.FUNCTIONS) -> Worker:
    """Run the jobs queued in Redis (and due by Redis time) until none is left."""
    worker = Worker(functions=registry.functions(tuple(functions)), redis_pool=ctx["redis"], ctx=ctx,
                    burst=True, handle_signals=False, poll_delay=0.01, max_burst_jobs=max_jobs,
                    keep_result=0)
    await worker.async_run()
    return worker


async def queue(db: Any, *, key: str, reply: Reply = Text("Your appointment is confirmed"),
                channel: Channel = Channel.WHATSAPP, recipient: str | None = None, **kw: Any) -> int:
    """Commit one outbound row (as the dispatcher does) and return its id."""
    recipient = recipient or (WA_USER if channel == Channel.WHATSAPP else SMS_USER)
    async with db() as session, session.begin():
        return await api.queue_message(session, org_id=1, channel=channel, recipient=recipient, reply=reply,
                                       purpose=kw.pop("purpose", "reply"), idempotency_key=key, **kw)


async def open_window(db: Any, settings: Settings, at: dt.datetime, user: str = WA_USER) -> None:
    async with db() as session, session.begin():
        await api.touch_window(session, account=settings.whatsapp_phone_id, user_id=user, at=at)


async def row(db: Any, outbound_id: int) -> OutboundMessage:
    async with db() as session:
        return (await session.execute(select(OutboundMessage).where(OutboundMessage.id == outbound_id))).scalar_one()


async def eventually(check: Any, *, attempts: int = 200, pause_s: float = 0.05) -> Any:
    """Poll an async `check()` until it returns something truthy (events that arrive by
    webhook, e.g. provider statuses); fail with its last value if it never does."""
    import asyncio

    value = None
    for _ in range(attempts):
        value = await check()
        if value:
            return value
        await asyncio.sleep(pause_s)
    raise AssertionError(f"condition never held; last value {value!r}")


async def fast_forward_job(ctx: dict[str, Any], job_id: str) -> float:
    """Make a deferred arq job due now; returns how far ahead (s) it was deferred.

    arq's deferral runs on real time; the tests check the defer it chose and skip the wait.
    """
    from arq.constants import default_queue_name
    from arq.utils import timestamp_ms

    score = await ctx["redis"].zscore(default_queue_name, job_id)
    assert score is not None, f"job {job_id} is not queued"
    now = timestamp_ms()
    await ctx["redis"].zadd(default_queue_name, {job_id: now})
    return (score - now) / 1000


def cli_env(settings: Settings, redis_url: str | None = None) -> dict[str, str]:
    """Environment for a `python -m bot …` child process on the test's database and Redis."""
    import os

    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.update({
        "DATABASE_URL": settings.database_url,
        "REDIS_URL": redis_url or settings.redis_url or "",
        "MYMEDIC_VAR_DIR": str(settings.var_dir),
        "PUBLIC_URL": settings.public_url,
        "WHATSAPP_API_BASE": settings.whatsapp_api_base,
        "TWILIO_API_BASE": settings.twilio_api_base,
        "SANDBOX": "1",
        "LOG_LEVEL": "WARNING",
    })
    return env


async def run_cli(settings: Settings, *args: str) -> str:
    """Run `python -m bot ARGS` and return its stdout (fails on a non-zero exit)."""
    import asyncio
    import sys

    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", *args, env=cli_env(settings),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()
    return out.decode()


async def start_worker(settings: Settings, redis_url: str, **env: str) -> Any:
    """Start tests/outbox/worker_runner.py as a child process (see its docstring)."""
    import asyncio
    import sys
    from pathlib import Path

    runner = Path(__file__).with_name("worker_runner.py")
    full_env = {**cli_env(settings, redis_url), **env}
    full_env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(Path(__file__).resolve().parents[2]),
                                                           full_env.get("PYTHONPATH")]))
    return await asyncio.create_subprocess_exec(sys.executable, str(runner), env=full_env)
