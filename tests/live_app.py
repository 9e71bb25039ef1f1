"""The app serving the sandbox emulators on a real port, with a real arq worker running in
the test's loop: the harness the end-to-end and reply-wiring tests share.

With `clock`, the app (booking core, dispatcher, sandbox pay page) reads that clock
through `app[CLOCK]`; `worker_clock` is the worker's (None: real time).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from aiohttp.test_utils import TestServer
from arq.worker import Worker

from bot.app import create_app
from bot.app_keys import CLOCK
from bot.config import Settings
from workers import registry
from workers.main import build_context, close_context

Clock = Callable[[], dt.datetime]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@asynccontextmanager
async def running_app(settings: Settings, *, clock: Clock | None = None,
                      worker_clock: Clock | None = None) -> AsyncIterator[tuple[Settings, dict[str, Any]]]:
    """Yield the app's settings (senders point at its emulators) and the worker's context.

    The emulators report only "delivered" (not sent/delivered/read): each status is a
    webhook and a commit, and the status path has its own tests in tests/outbox."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    app_settings = settings.with_(port=port, public_url=base, sandbox=True,
                                  whatsapp_api_base=f"{base}/sandbox/graph",
                                  twilio_api_base=f"{base}/sandbox/twilio",
                                  extra={**settings.extra, "MYMEDIC_SANDBOX_STATUSES": "delivered"})
    app = create_app(app_settings)
    if clock is not None:
        app[CLOCK] = clock
    server = TestServer(app, host="127.0.0.1", port=port)
    await server.start_server()
    ctx = await build_context(app_settings, clock=worker_clock)
    worker = Worker(functions=registry.functions(), redis_pool=ctx["redis"], ctx=ctx, burst=False,
                    handle_signals=False, poll_delay=0.01, keep_result=0)
    task = asyncio.create_task(worker.async_run())
    try:
        yield app_settings, ctx
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await close_context(ctx)
        await server.close()
