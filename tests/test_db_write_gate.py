"""SQLite's write gate queues this process's writers and says when their back-to-back run
kept the database lock from other processes for long (how a second process starves)."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest
from sqlalchemy import text

from bot import db


async def _write(engine, pause_s: float) -> None:  # noqa: ANN001
    async with engine.begin() as conn:
        await conn.execute(text("INSERT INTO t (v) VALUES (1)"))
        await asyncio.sleep(pause_s)


@pytest.fixture
async def sqlite_engine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # noqa: ANN201
    monkeypatch.setattr(db._WriteGate, "LONG_HOLD_S", 0.2)
    engine = db.make_engine(f"sqlite+aiosqlite:///{tmp_path / 'gate.db'}")
    async with engine.begin() as conn:
        await conn.execute(text("CREATE TABLE t (v INTEGER)"))
    yield engine
    await engine.dispose()


async def test_a_long_run_of_back_to_back_writes_is_logged(sqlite_engine, caplog: pytest.LogCaptureFixture) -> None:  # noqa: ANN001
    caplog.set_level(logging.WARNING, logger="bot.db")
    await asyncio.gather(*(_write(sqlite_engine, 0.05) for _ in range(8)))  # ~0.4 s, none long alone
    runs = [r.getMessage() for r in caplog.records if "back to back" in r.getMessage()]
    assert len(runs) == 1 and "(8 transactions)" in runs[0]
    assert not [r for r in caplog.records if "write transaction held" in r.getMessage()]
    async with sqlite_engine.connect() as conn:
        assert (await conn.execute(text("SELECT count(*) FROM t"))).scalar_one() == 8


async def test_short_writes_with_gaps_log_nothing(sqlite_engine, caplog: pytest.LogCaptureFixture) -> None:  # noqa: ANN001
    caplog.set_level(logging.WARNING, logger="bot.db")
    for _ in range(4):
        await _write(sqlite_engine, 0.08)  # one after another, never queued: each run is one
    assert caplog.records == []


async def test_one_long_transaction_is_logged(sqlite_engine, caplog: pytest.LogCaptureFixture) -> None:  # noqa: ANN001
    caplog.set_level(logging.WARNING, logger="bot.db")
    await _write(sqlite_engine, 0.3)
    assert [r.getMessage().split(" for ")[0] for r in caplog.records] == [
        "sqlite write transaction held the database lock"]
