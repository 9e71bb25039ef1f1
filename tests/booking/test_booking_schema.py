"""The Alembic migration builds exactly the tables the booking models declare."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.booking import models as booking_models
from bot.db import Base

BOOKING_TABLES = {
    obj.__table__.name
    for obj in vars(booking_models).values()
    if isinstance(obj, type) and issubclass(obj, Base) and obj is not Base
}


def _touches_booking(diff: Any) -> bool:
    """True when one autogenerate diff entry concerns a booking table."""
    if isinstance(diff, list):  # modify_* entries come grouped
        return any(_touches_booking(d) for d in diff)
    for part in diff[1:]:
        table = getattr(part, "table", None)
        name = getattr(part, "name", None)
        if table is not None and getattr(table, "name", None) in BOOKING_TABLES:
            return True
        if isinstance(part, str) and part in BOOKING_TABLES:
            return True
        if hasattr(part, "columns") and name in BOOKING_TABLES:
            return True
    return False


async def test_migrated_schema_matches_models(engine: AsyncEngine) -> None:
    def _diff(sync_conn: Any) -> list[Any]:
        ctx = MigrationContext.configure(sync_conn, opts={"compare_type": True})
        return compare_metadata(ctx, Base.metadata)

    async with engine.connect() as conn:
        diffs = await conn.run_sync(_diff)
    assert len(BOOKING_TABLES) >= 20
    assert [d for d in diffs if _touches_booking(d)] == []
