"""Database plumbing shared by every table: the declarative base, UTC datetimes,
and an async engine that behaves the same on SQLite and PostgreSQL.

SQLite needs three things to be a safe default for concurrent writers (see the
SQLAlchemy pysqlite/aiosqlite "serializable isolation" recipe):
WAL journal, a busy timeout, and write transactions that start with
`BEGIN IMMEDIATE` so that two writers queue on the lock instead of one failing
with SQLITE_BUSY when its deferred transaction tries to upgrade.

Writers of one process queue on a gate (`_WriteGate`); writers of different processes
(web and worker share the file) take turns: a waiting `BEGIN IMMEDIATE` asks again every
few milliseconds, and a process whose writes held the lock back to back for
`_WriteGate.MAX_RUN_S` pauses before its next one.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import sqlite3
import time
from pathlib import Path
from typing import Any

from sqlalchemy import DateTime, MetaData, event
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.types import TypeDecorator
from sqlalchemy.util.concurrency import await_

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

SQLITE_BUSY_TIMEOUT_MS = 15_000
# How often a writer asks again for a lock another process holds (seconds, then the last
# one on). SQLite's own busy handler sleeps up to 100 ms between tries and so rarely hits
# the gap between another process's back-to-back transactions: a writer could wait out
# the whole busy timeout behind a busy worker.
BEGIN_RETRY_DELAYS_S = (0.001, 0.002, 0.003, 0.005)
# Execution option marking a transaction that only reads: on SQLite it begins DEFERRED
# instead of IMMEDIATE. Use `await session.connection(execution_options={READ_ONLY: True})`
# first thing in the transaction. Ignored by PostgreSQL.
READ_ONLY = "mymedic_read_only"

log = logging.getLogger(__name__)


class Base(DeclarativeBase):
    """Declarative base for every table of the project (one MetaData, one Alembic history)."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UTCDateTime(TypeDecorator[dt.datetime]):
    """A timezone-aware UTC datetime on every backend.

    SQLite hands back naive datetimes even for `DateTime(timezone=True)`; this type
    refuses naive input on the way in and re-attaches UTC on the way out.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column; attach a time zone first")
        value = value.astimezone(dt.timezone.utc)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.timezone.utc)
        return value.astimezone(dt.timezone.utc)

    def result_processor(self, dialect: Any, coltype: Any) -> Any:
        if dialect.name != "sqlite":
            return super().result_processor(dialect, coltype)
        # SQLite stores our UTC values as ISO text; one C-level `fromisoformat` per value,
        # instead of the generic DATETIME parser plus this decorator, keeps hot reads
        # (the slot search reads hundreds of them) cheap.
        fromiso, utc = dt.datetime.fromisoformat, dt.timezone.utc

        def process(value: Any) -> dt.datetime | None:
            if value is None:
                return None
            moment = fromiso(value) if isinstance(value, str) else value
            return moment.replace(tzinfo=utc) if moment.tzinfo is None else moment.astimezone(utc)

        return process


def utcnow() -> dt.datetime:
    """The current time as an aware UTC datetime (the default clock)."""
    return dt.datetime.now(dt.timezone.utc)


def make_engine(database_url: str, **kwargs: Any) -> AsyncEngine:
    """Create the async engine, with the SQLite settings that make it safe for concurrent use."""
    if database_url.startswith("sqlite"):
        path = database_url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        kwargs.setdefault("connect_args", {"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})
        engine = create_async_engine(database_url, **kwargs)
        _make_sqlite_transactions_immediate(engine)
        return engine
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 20)
    kwargs.setdefault("pool_pre_ping", True)
    return create_async_engine(database_url, **kwargs)


class _WriteGate:
    """One SQLite write transaction at a time per engine, queued FIFO on the event loop.

    Acquired from SQLAlchemy's synchronous events, which run inside the greenlet that
    `AsyncEngine` drives, so `await_` can wait there without blocking the loop.

    The lock passes straight from one writer of this process to the next, so another
    process's writer (polling in SQLite's busy handler) gets in only when this queue
    empties. A run of back-to-back writes holding the lock past `LONG_HOLD_S` is logged
    (as is a single long transaction, with its first statement's SQL text, never its
    parameters): that is how another process starves. So is a `BEGIN IMMEDIATE` that
    waited that long for another process to let go, apart from the holding time."""

    LONG_HOLD_S = 1.0
    # A run of back-to-back writes this long ends with a pause that lets a writer of another
    # process, asking every `BEGIN_RETRY_DELAYS_S[-1]`, take its turn.
    MAX_RUN_S = 0.25
    TURN_PAUSE_S = 0.012

    def __init__(self) -> None:
        self._lock: asyncio.Lock | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._holder: Any = None
        self._waiting = 0
        self._held_since = 0.0  # this transaction's start
        self._run_since = 0.0  # start of the current run of back-to-back transactions
        self._run_length = 0
        self._first_statement: str | None = None
        self._watching = False  # the holder's first statement is still to be noted

    def acquire(self, dbapi_connection: Any) -> None:
        loop = asyncio.get_running_loop()
        if self._loop is not loop:  # an engine reused on a new loop (tests) gets a new lock
            self._lock, self._loop, self._holder = asyncio.Lock(), loop, None
        assert self._lock is not None
        self._waiting += 1
        try:
            await_(asyncio.wait_for(self._lock.acquire(), SQLITE_BUSY_TIMEOUT_MS / 1000))
        except TimeoutError:
            # A holder that never let go (it should not happen): fall back to SQLite's own
            # busy handler, which answers "database is locked" after its timeout as before.
            log.warning("sqlite write gate not acquired in time; going to the database lock")
            return
        finally:
            self._waiting -= 1
        self._holder = dbapi_connection
        if self._run_length == 0:
            self._run_since = time.monotonic()
        self._run_length += 1

    def began(self, dbapi_connection: Any, waited_s: float) -> None:
        """The holder's `BEGIN IMMEDIATE` returned after `waited_s` (another process's turn)."""
        if self._holder is not dbapi_connection:
            return
        if waited_s > self.LONG_HOLD_S:
            log.warning("sqlite write waited %.1f s for another process to release the database lock", waited_s)
        self._held_since = time.monotonic()
        self._first_statement, self._watching = None, True

    def statement(self, dbapi_connection: Any, sql: str) -> None:
        """Note the holder's first statement (SQL text only) for the long-hold log."""
        if self._watching and self._holder is dbapi_connection:
            self._first_statement, self._watching = " ".join(sql.split())[:120], False

    def release(self, dbapi_connection: Any) -> None:
        if self._holder is not None and self._holder is dbapi_connection and self._lock is not None:
            self._holder, self._watching = None, False
            now = time.monotonic()
            if self._held_since and now - self._held_since > self.LONG_HOLD_S:
                log.warning("sqlite write transaction held the database lock for %.1f s (first statement: %s)",
                            now - self._held_since, self._first_statement)
            self._held_since = 0.0
            long_run = now - self._run_since >= self.MAX_RUN_S
            if not self._waiting or long_run:  # the run ends: other processes can get the lock now
                if now - self._run_since > self.LONG_HOLD_S and self._run_length > 1:
                    log.warning("sqlite writes of this process held the database lock back to back for %.1f s "
                                "(%d transactions); other processes' writers waited meanwhile",
                                now - self._run_since, self._run_length)
                self._run_length = 0
            if self._waiting and long_run and self._loop is not None:
                # Our next writer waits a moment: a writer of another process gets in first.
                log.debug("sqlite write gate pauses for other processes after a %.2f s run", now - self._run_since)
                self._loop.call_later(self.TURN_PAUSE_S, self._lock.release)
                return
            self._lock.release()


def _make_sqlite_transactions_immediate(engine: AsyncEngine) -> None:
    gate = _WriteGate()

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take BEGIN away from the driver so that we can emit BEGIN IMMEDIATE ourselves.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        # Read-only transactions (see READ_ONLY) take no write lock: under WAL they read a
        # snapshot and neither wait for writers nor block them.
        if conn.get_execution_options().get(READ_ONLY):
            conn.exec_driver_sql("BEGIN")
            return
        # Writers of this process queue FIFO on an asyncio lock, woken the moment the
        # previous one ends, instead of all polling SQLite's lock in its busy handler
        # (back-off up to 100 ms per retry: seconds of latency under load). Only writers
        # in other processes still meet the busy handler.
        dbapi_connection = conn.connection.dbapi_connection
        gate.acquire(dbapi_connection)
        asked = time.monotonic()
        try:
            if not _begin_immediate(dbapi_connection, deadline=asked + SQLITE_BUSY_TIMEOUT_MS / 1000):
                # Still locked at the deadline: one last try through SQLAlchemy, for its error.
                conn.exec_driver_sql("BEGIN IMMEDIATE")
        except BaseException:
            gate.release(dbapi_connection)
            raise
        gate.began(dbapi_connection, time.monotonic() - asked)

    @event.listens_for(engine.sync_engine, "before_cursor_execute")
    def _on_statement(conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        gate.statement(conn.connection.dbapi_connection, statement)

    @event.listens_for(engine.sync_engine, "commit")
    @event.listens_for(engine.sync_engine, "rollback")
    def _on_end(conn: Any) -> None:
        gate.release(conn.connection.dbapi_connection)

    @event.listens_for(engine.sync_engine, "checkin")
    @event.listens_for(engine.sync_engine, "close")
    def _on_checkin(dbapi_connection: Any, _record: Any) -> None:
        # Belt and braces: a connection going back to the pool never keeps the gate.
        gate.release(dbapi_connection)

    @event.listens_for(engine.sync_engine, "invalidate")
    def _on_invalidate(dbapi_connection: Any, _record: Any, _exc: Any) -> None:
        # A connection dropped mid-transaction (e.g. a cancelled task) gives the gate back.
        gate.release(dbapi_connection)


def _begin_immediate(dbapi_connection: Any, *, deadline: float) -> bool:
    """`BEGIN IMMEDIATE`, asking again every few ms (`BEGIN_RETRY_DELAYS_S`, on the event
    loop) while another process holds the lock; False when it still does at `deadline`.

    The statements go to the driver directly: a failed statement through SQLAlchemy would
    roll back "the transaction" being begun, firing the rollback event mid-begin."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA busy_timeout=0")  # busy: answer at once, we wait on the loop
    try:
        for attempt in range(1_000_000):
            try:
                cursor.execute("BEGIN IMMEDIATE")
                return True
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) and "busy" not in str(exc):
                    raise
            if time.monotonic() >= deadline:
                return False
            await_(asyncio.sleep(BEGIN_RETRY_DELAYS_S[min(attempt, len(BEGIN_RETRY_DELAYS_S) - 1)]))
        return False
    finally:
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.close()


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions that keep loaded attributes after commit (we hand DTOs out, not live rows)."""
    return async_sessionmaker(engine, expire_on_commit=False)
