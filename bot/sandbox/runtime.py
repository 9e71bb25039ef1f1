"""The sandbox's per-app resources: settings, the Redis store, one HTTP client for the
webhooks the emulators post back to us, the background tasks doing that, and the batcher
coalescing WhatsApp statuses into few webhooks (as Meta does)."""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Sequence
from typing import Any

import aiohttp
from aiohttp import web
from yarl import URL

from bot.config import Settings
from bot.message_templates import TemplateError, TemplateRegistry, load_registry
from bot.sandbox import payloads
from bot.sandbox.store import SandboxStore

log = logging.getLogger(__name__)

CALLBACK_TIMEOUT_S = 10.0
# Which delivery statuses the emulators report after a successful send. Benchmarks may
# trim them (MYMEDIC_SANDBOX_STATUSES="" for none, or e.g. "delivered").
DEFAULT_STATUSES = {"whatsapp": ("sent", "delivered", "read"), "sms": ("sent", "delivered")}
# Statuses per WhatsApp status webhook at most (Meta batches too; a bound keeps one POST small).
MAX_STATUSES_PER_WEBHOOK = 100
# How long the next webhook waits for more statuses (Meta's statuses come late anyway):
# paced sends arrive evenly spaced and would otherwise cost one webhook each.
STATUS_LINGER_S = 0.1
# When a status webhook is not answered 2xx, Meta delivers it again, with growing pauses
# (for days); the emulator retries on this shorter schedule, then gives the batch up.
STATUS_RETRY_DELAYS_S = (1.0, 2.0, 5.0, 10.0, 30.0, 60.0)


class WebhookNotAccepted(Exception):
    """Our server did not answer a webhook with 2xx (or was unreachable): deliver it again."""


class StatusBatcher:
    """Coalesces statuses into batched webhooks, posted one at a time.

    `add` queues and returns at once. A single poster task waits `linger_s` for company,
    takes everything queued at that moment (up to `max_batch`), posts it, and loops while
    more is queued: a lone send's statuses go out after the linger, and under load the
    statuses that arrive meanwhile ride together in the next webhook. Queue order is post
    order, so a message's statuses (queued together, in order) never overtake each other.

    A webhook that fails is delivered again after each of `retry_delays_s` in turn, beside
    the later ones (as Meta does; our server orders statuses by rank, not arrival).
    """

    def __init__(self, post: Callable[[Sequence[payloads.WhatsAppStatus]], Awaitable[None]], *,
                 max_batch: int = MAX_STATUSES_PER_WEBHOOK, linger_s: float = STATUS_LINGER_S,
                 retry_delays_s: Sequence[float] = STATUS_RETRY_DELAYS_S) -> None:
        self._post = post
        self._max_batch = max_batch
        self._linger_s = linger_s
        self._retry_delays_s = tuple(retry_delays_s)
        self._queue: deque[payloads.WhatsAppStatus] = deque()
        self._poster: asyncio.Task[None] | None = None
        self._retries: set[asyncio.Task[None]] = set()
        self._closed = False

    def add(self, statuses: Iterable[payloads.WhatsAppStatus]) -> None:
        """Queue `statuses` (in order) for the next webhook."""
        if self._closed:
            return
        self._queue.extend(statuses)
        if self._queue and (self._poster is None or self._poster.done()):
            self._poster = asyncio.create_task(self._post_queued())

    async def _post_queued(self) -> None:
        while self._queue:
            if self._linger_s > 0 and len(self._queue) < self._max_batch:
                await asyncio.sleep(self._linger_s)
            batch = [self._queue.popleft() for _ in range(min(self._max_batch, len(self._queue)))]
            if not await self._deliver(batch, attempt=0) and not self._closed:
                task = asyncio.create_task(self._redeliver(batch))
                self._retries.add(task)
                task.add_done_callback(self._retries.discard)

    async def _deliver(self, batch: Sequence[payloads.WhatsAppStatus], *, attempt: int) -> bool:
        try:
            await self._post(batch)
            return True
        except WebhookNotAccepted as exc:
            log.warning("sandbox status webhook not accepted (%s), attempt %d", exc, attempt + 1)
        except Exception:  # noqa: BLE001 - one failed webhook must not stop the later ones
            log.exception("sandbox status webhook failed, attempt %d", attempt + 1)
        return False

    async def _redeliver(self, batch: Sequence[payloads.WhatsAppStatus]) -> None:
        for attempt, delay in enumerate(self._retry_delays_s, start=1):
            await asyncio.sleep(delay)
            if self._closed or await self._deliver(batch, attempt=attempt):
                return
        log.error("sandbox status webhook given up after %d attempts (%d statuses)",
                  len(self._retry_delays_s) + 1, len(batch))

    async def aclose(self) -> None:
        """Stop posting (what is still queued or due again is dropped, as with a provider going away)."""
        self._closed = True
        self._queue.clear()
        tasks = [*self._retries, *([self._poster] if self._poster is not None else [])]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


class SandboxRuntime:
    """Owned by the app (`app[SANDBOX]`), opened and closed in its cleanup context."""

    def __init__(self, settings: Settings, store: SandboxStore, http: aiohttp.ClientSession) -> None:
        self.settings = settings
        self.store = store
        self.http = http
        self._tasks: set[asyncio.Task[None]] = set()
        self._templates: TemplateRegistry | None = None
        self.whatsapp_statuses = StatusBatcher(self._post_whatsapp_statuses)

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

    async def _post_whatsapp_statuses(self, statuses: Sequence[payloads.WhatsAppStatus]) -> None:
        payload = payloads.whatsapp_statuses_webhook(statuses)
        body, headers = payloads.signed_json(payload, self.settings.whatsapp_app_secret)
        status = await self.post_webhook("/webhooks/whatsapp", data=body, headers=headers)
        if not 200 <= status < 300:
            raise WebhookNotAccepted(f"HTTP {status}" if status else "unreachable")

    async def aclose(self) -> None:
        """Stop the status poster and the background callbacks, then close the HTTP client."""
        await self.whatsapp_statuses.aclose()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.http.close()


SANDBOX = web.AppKey("sandbox", SandboxRuntime)
