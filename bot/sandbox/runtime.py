"""The sandbox's per-app resources: settings, the Redis store, one HTTP client for the
webhooks the emulators post back to us, and the background tasks doing that."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

import aiohttp
from aiohttp import web
from yarl import URL

from bot.config import Settings
from bot.message_templates import TemplateError, TemplateRegistry, load_registry
from bot.sandbox.store import SandboxStore

log = logging.getLogger(__name__)

CALLBACK_TIMEOUT_S = 10.0
# Which delivery statuses the emulators report after a successful send. Benchmarks may
# trim them (MYMEDIC_SANDBOX_STATUSES="" for none, or e.g. "delivered").
DEFAULT_STATUSES = {"whatsapp": ("sent", "delivered", "read"), "sms": ("sent", "delivered")}


class SandboxRuntime:
    """Owned by the app (`app[SANDBOX]`), opened and closed in its cleanup context."""

    def __init__(self, settings: Settings, store: SandboxStore, http: aiohttp.ClientSession) -> None:
        self.settings = settings
        self.store = store
        self.http = http
        self._tasks: set[asyncio.Task[None]] = set()
        self._templates: TemplateRegistry | None = None

    def templates(self) -> TemplateRegistry | None:
        """The approved-template registry (loaded once), to show template sends as text."""
        if self._templates is None:
            try:
                self._templates = load_registry()
            except (OSError, TemplateError) as exc:
                log.warning("sandbox cannot load templates: %s", type(exc).__name__)
                return None
        return self._templates

    def statuses(self, channel: str) -> tuple[str, ...]:
        """The statuses to report for a successful send on `channel`."""
        raw = self.settings.extra.get("MYMEDIC_SANDBOX_STATUSES")
        if raw is None:
            return DEFAULT_STATUSES[channel]
        wanted = {s.strip() for s in raw.split(",") if s.strip()}
        return tuple(s for s in DEFAULT_STATUSES[channel] if s in wanted)

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        """Run `coro` in the background (callbacks must not delay the emulated API answer)."""
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def post_webhook(self, path_and_query: str, **kwargs: Any) -> int:
        """POST to our own public URL; returns the HTTP status (0 when unreachable)."""
        # encoded=True: request exactly the URL that was signed (yarl would otherwise
        # re-quote the query, e.g. "%3A" → ":", and Twilio signatures cover the raw URL).
        url = URL(f"{self.settings.public_url}{path_and_query}", encoded=True)
        try:
            async with self.http.post(url, **kwargs) as resp:
                await resp.read()
                if resp.status >= 400:
                    log.debug("sandbox webhook %s answered %s", path_and_query.split("?")[0], resp.status)
                return resp.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            log.warning("sandbox webhook %s failed: %s", path_and_query.split("?")[0], type(exc).__name__)
            return 0

    async def aclose(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.http.close()


SANDBOX = web.AppKey("sandbox", SandboxRuntime)
