"""Which statuses the emulators report is configurable (benchmarks trim them)."""

from __future__ import annotations

import aiohttp
from redis.asyncio import Redis

from bot.config import Settings
from bot.sandbox.runtime import SandboxRuntime
from bot.sandbox.store import SandboxStore


async def test_statuses_default_and_trimmed(sandbox_settings: Settings, quiet_settings: Settings, redis: Redis) -> None:
    async with aiohttp.ClientSession() as http:
        default = SandboxRuntime(sandbox_settings, SandboxStore(redis), http)
        quiet = SandboxRuntime(quiet_settings, SandboxStore(redis), http)
        none = SandboxRuntime(sandbox_settings.with_(extra={"MYMEDIC_SANDBOX_STATUSES": ""}), SandboxStore(redis), http)
        assert default.statuses("whatsapp") == ("sent", "delivered", "read")
        assert default.statuses("sms") == ("sent", "delivered")
        assert quiet.statuses("whatsapp") == ("delivered",) == quiet.statuses("sms")
        assert none.statuses("whatsapp") == ()
