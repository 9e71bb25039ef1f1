"""Shared fixtures: a real database (SQLite file, or a fresh PostgreSQL database when
DATABASE_URL points at one) migrated with Alembic, and a real Redis (embedded, or
REDIS_URL). Nothing here is a fake.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.config import Settings
from bot.db import Base, make_engine, make_sessionmaker
from bot.embedded_redis import EmbeddedRedis
from bot.migrate import upgrade
from bot.models import import_all_models
from bot.redis_conn import redis_client


def _base_database_url() -> str | None:
    url = os.environ.get("DATABASE_URL")
    if url and (url.startswith("postgresql://") or url.startswith("postgres://")):
        url = "postgresql+asyncpg://" + url.split("://", 1)[1]
    return url


@pytest.fixture(scope="session")
def var_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("var")


@pytest.fixture(scope="session")
def redis_url(var_dir: Path) -> Iterator[str]:
    """REDIS_URL when set, else an embedded redis-server of this test session's own."""
    url = os.environ.get("REDIS_URL")
    if url:
        yield url
        return
    with EmbeddedRedis(var_dir / "redis", persistent=False) as server:
        yield server.url


@pytest.fixture(scope="session")
async def database_url(var_dir: Path) -> AsyncIterator[str]:
    """A database of this test session's own: a new PostgreSQL database, or a SQLite file."""
    base = _base_database_url()
    if not base or base.startswith("sqlite"):
        yield f"sqlite+aiosqlite:///{var_dir / 'test.db'}"
        return
    name = f"mymedic_test_{os.getpid()}_{secrets.token_hex(3)}"
    admin = make_engine(base, isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        await conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(base).set(database=name).render_as_string(hide_password=False)
    finally:
        async with admin.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()


@pytest.fixture(scope="session")
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    """The session's engine, with every Alembic migration applied."""
    import_all_models()
    eng = make_engine(database_url)
    await upgrade(eng)
    yield eng
    await eng.dispose()


@pytest.fixture
async def db(engine: AsyncEngine) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """A sessionmaker over an emptied database (every table cleared before the test)."""
    async with engine.begin() as conn:
        tables = [t for t in reversed(Base.metadata.sorted_tables)]
        if engine.dialect.name == "postgresql" and tables:
            names = ", ".join(f'"{t.name}"' for t in tables)
            await conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        else:
            for table in tables:
                await conn.execute(table.delete())
    yield make_sessionmaker(engine)


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    """A client on an emptied Redis database."""
    client = redis_client(redis_url)
    await client.flushdb()
    yield client
    await client.aclose()


@pytest.fixture
def settings(var_dir: Path, database_url: str, redis_url: str) -> Settings:
    """Sandbox settings pointing at this session's database and Redis."""
    env = {
        "MYMEDIC_VAR_DIR": str(var_dir),
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "SANDBOX": "1",
        "PORT": "8080",
    }
    return Settings.from_env(env)
