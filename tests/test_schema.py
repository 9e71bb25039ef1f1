"""The Alembic migrations build exactly the tables, columns and indexes the models declare
(every subsystem: booking, outbox, inbox, workers), on the backend under test."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.db import Base


async def test_migrated_schema_matches_every_model(engine: AsyncEngine) -> None:
    def diff(sync_conn: Any) -> tuple[list[Any], set[str]]:
        ctx = MigrationContext.configure(sync_conn, opts={"compare_type": True})
        return compare_metadata(ctx, Base.metadata), set(inspect(sync_conn).get_table_names())

    async with engine.connect() as conn:
        changes, tables = await conn.run_sync(diff)
    assert changes == []
    assert set(Base.metadata.tables) <= tables
    assert {"appointments", "slot_cells", "outbound_messages", "scheduled_sends", "handoffs"} <= tables


async def test_send_ordering_lookups_have_their_index(engine: AsyncEngine) -> None:
    def indexes(sync_conn: Any) -> dict[str, list[str]]:
        return {i["name"]: i["column_names"] for i in inspect(sync_conn).get_indexes("outbound_messages")}

    async with engine.connect() as conn:
        found = await conn.run_sync(indexes)
    assert found["ix_outbound_messages_recipient"] == ["channel", "recipient", "id"]
