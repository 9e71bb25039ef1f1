"""The app starts on a real database and Redis and reports health."""

from bot.app import create_app
from bot.embedded_redis import EmbeddedRedis


async def test_healthz_ok(aiohttp_client, settings, engine):
    client = await aiohttp_client(create_app(settings))
    resp = await client.get("/healthz")
    assert resp.status == 200
    assert (await resp.json()) == {"status": "ok", "database": "ok", "redis": "ok"}


async def test_healthz_down_when_redis_stops(aiohttp_client, settings, engine, tmp_path):
    server = EmbeddedRedis(tmp_path / "redis", persistent=False)
    client = await aiohttp_client(create_app(settings.with_(redis_url=server.start())))
    assert (await client.get("/healthz")).status == 200
    server.stop()
    resp = await client.get("/healthz")
    assert resp.status == 503
    body = await resp.json()
    assert body["redis"] == "down" and body["database"] == "ok"
