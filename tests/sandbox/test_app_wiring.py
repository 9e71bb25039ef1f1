"""The sandbox inside the real application: only with SANDBOX=1, page and emulators served."""

from __future__ import annotations

from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.app import create_app
from bot.config import Settings


async def test_sandbox_routes_in_the_app(engine: AsyncEngine, sandbox_settings: Settings) -> None:
    app = create_app(sandbox_settings)
    async with TestClient(TestServer(app)) as client:
        resp = await client.get("/sandbox")
        assert resp.status == 200
        html = await resp.text()
        assert 'id="channel"' in html and "/sandbox/static/chat.js" in html and "https://" not in html
        assert (await client.get("/sandbox/static/chat.js")).status == 200
        resp = await client.post(f"/sandbox/graph/v23.0/{sandbox_settings.whatsapp_phone_id}/messages", json={})
        assert resp.status == 401


async def test_no_sandbox_without_the_flag(engine: AsyncEngine, sandbox_settings: Settings) -> None:
    app = create_app(sandbox_settings.with_(sandbox=False))
    async with TestClient(TestServer(app)) as client:
        assert (await client.get("/sandbox")).status == 404
        assert (await client.post("/sandbox/twilio/2010-04-01/Accounts/AC1/Messages.json")).status == 404
