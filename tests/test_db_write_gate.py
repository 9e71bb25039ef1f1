"""SQLite's write gate queues this process's writers, gives other processes' writers a turn
in a long run of them, and says when a run or a wait was long (how a process starves)."""

from __future__ import annotations

import asyncio
import logging
import re
import sqlite3
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


async def test_a_long_run_of_back_to_back_writes_is_logged(
        sqlite_engine, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    monkeypatch.setattr(db._WriteGate, "MAX_RUN_S", 10.0)  # no turn for others: one long run
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
    assert caplog.records[0].getMessage().endswith("(first statement: INSERT INTO t (v) VALUES (1))")


async def test_waiting_for_another_process_is_logged_apart_from_holding(
        sqlite_engine, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:  # noqa: ANN001
    # Another process's writer (a plain connection of its own) holds the lock for 0.4 s.
    other = sqlite3.connect(tmp_path / "gate.db", isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    release = asyncio.get_running_loop().call_later(0.4, other.execute, "COMMIT")
    caplog.set_level(logging.WARNING, logger="bot.db")
    try:
        await _write(sqlite_engine, 0)
    finally:
        release.cancel()
        other.close()
    messages = [r.getMessage() for r in caplog.records]
    # The busy handler polls, so the wait ends a little after the other's commit.
    assert len(messages) == 1 and re.fullmatch(
        r"sqlite write waited 0\.[45] s for another process to release the database lock", messages[0]), messages


async def test_another_process_gets_a_turn_in_a_long_run_of_writes(sqlite_engine, tmp_path: Path) -> None:  # noqa: ANN001
    # A second engine on the same file has a gate of its own: to SQLite it is another
    # process. This one queues 60 writers back to back (about 0.6 s); the other's single
    # write must not wait for the whole queue to drain.
    other = db.make_engine(f"sqlite+aiosqlite:///{tmp_path / 'gate.db'}")
    done: list[str] = []

    async def busy() -> None:
        await _write(sqlite_engine, 0.01)
        done.append("busy")

    async def lone() -> None:
        await asyncio.sleep(0.05)  # the busy queue is under way
        await _write(other, 0)
        done.append("lone")

    try:
        await asyncio.gather(*(busy() for _ in range(60)), lone())
    finally:
        await other.dispose()
    # Its turn came once the run reached MAX_RUN_S (0.25 s in, about 20 writes), not after 60.
    assert done.index("lone") < 40, done.index("lone")


async def test_a_long_run_pauses_so_other_processes_can_write(sqlite_engine, caplog: pytest.LogCaptureFixture) -> None:  # noqa: ANN001
    caplog.set_level(logging.DEBUG, logger="bot.db")
    await asyncio.gather(*(_write(sqlite_engine, 0.01) for _ in range(60)))  # 0.6 s back to back
    pauses = [r for r in caplog.records if r.getMessage().startswith("sqlite write gate pauses")]
    assert 2 <= len(pauses) < 30, [r.getMessage() for r in pauses]  # one a MAX_RUN_S (0.25 s), not one a write
    async with sqlite_engine.connect() as conn:
        assert (await conn.execute(text("SELECT count(*) FROM t"))).scalar_one() == 60
