"""The 0004_workers migration creates exactly what workers/models.py declares."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from bot.db import Base
from workers import models as wm

MINE = {cls.__tablename__ for cls in vars(wm).values()
        if isinstance(cls, type) and issubclass(cls, Base) and cls is not Base}


async def test_migration_matches_models(engine):
    def diff(conn):  # type: ignore[no-untyped-def]
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        return compare_metadata(ctx, Base.metadata)

    async with engine.connect() as conn:
        changes = await conn.run_sync(diff)

    def table_of(change):  # type: ignore[no-untyped-def]
        op = change[0] if isinstance(change, list) else change
        for item in op[1:]:
            name = getattr(item, "name", None) if not isinstance(item, str) else None
            table = getattr(item, "table", None)
            if table is not None:
                return table.name
            if isinstance(item, str):
                return item
            if name:
                return name
        return None

    mine = [c for c in changes if table_of(c) in MINE]
    assert mine == []
    assert MINE <= set(Base.metadata.tables)
