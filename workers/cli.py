"""CLI commands of the delivery pipeline: `dead-letters` and `replay-dead-letter ID|--all`."""

from __future__ import annotations

import argparse
import asyncio

from arq.connections import create_pool

from bot.cli import EXTRA_ARGUMENTS, command, redis_available
from bot.config import Settings
from bot.db import make_engine, make_sessionmaker, utcnow
from bot.outbox.api import enqueue_sends
from bot.outbox.dead_letters import list_dead_letters, replay_dead_letters
from bot.redis_conn import arq_settings


async def _list(settings: Settings, include_replayed: bool) -> int:
    engine = make_engine(settings.database_url)
    try:
        async with make_sessionmaker(engine)() as session:
            letters = await list_dead_letters(session, include_replayed=include_replayed)
    finally:
        await engine.dispose()
    if not letters:
        print("no dead letters")
        return 0
    print("id\toutbound\tchannel\tpurpose\tcode\tattempts\tcreated\treplayed\treason")
    for d in letters:
        print(f"{d.id}\t{d.outbound_id}\t{d.channel}\t{d.purpose}\t{d.error_code or '-'}\t{d.attempts}\t"
              f"{d.created_at.isoformat(timespec='seconds')}\t"
              f"{d.replayed_at.isoformat(timespec='seconds') if d.replayed_at else '-'}\t{d.reason}")
    return 0


async def _replay(settings: Settings, ids: list[int] | None) -> int:
    engine = make_engine(settings.database_url)
    try:
        async with make_sessionmaker(engine)() as session, session.begin():
            outbound_ids = await replay_dead_letters(session, ids=ids, now=utcnow())
    finally:
        await engine.dispose()
    arq = await create_pool(arq_settings(settings.redis_url or ""))
    try:
        await enqueue_sends(arq, outbound_ids)
    finally:
        await arq.aclose()
    print(f"replayed {len(outbound_ids)} message(s)")
    return 0


@command("dead-letters", "list sends that exhausted their retries")
def cmd_dead_letters(settings: Settings, args: argparse.Namespace) -> int:
    return asyncio.run(_list(settings, bool(getattr(args, "all", False))))


@command("replay-dead-letter", "queue dead-lettered messages again: ID … or --all")
def cmd_replay_dead_letter(settings: Settings, args: argparse.Namespace) -> int:
    ids: list[int] = list(getattr(args, "ids", []) or [])
    if not ids and not getattr(args, "all", False):
        print("give dead letter ids or --all")
        return 2
    with redis_available(settings) as ready:
        # If Redis is unreachable the rows are queued anyway: the sweep sends them.
        return asyncio.run(_replay(ready, None if getattr(args, "all", False) else ids))


def _list_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--all", action="store_true", help="include replayed dead letters")


def _replay_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("ids", nargs="*", type=int, help="dead letter ids")
    parser.add_argument("--all", action="store_true", help="every dead letter not yet replayed")


EXTRA_ARGUMENTS["dead-letters"] = _list_args
EXTRA_ARGUMENTS["replay-dead-letter"] = _replay_args
