"""`python -m bot <command>`: serve | worker | run | chat | migrate | seed-demo (and more).

Configuration is read once, here, from the environment (DESIGN.md §3) and passed down.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator

from bot.config import Settings
from bot.embedded_redis import EmbeddedRedis

log = logging.getLogger("bot")

COMMANDS: dict[str, tuple[str, Callable[[Settings, argparse.Namespace], int]]] = {}


def command(name: str, help_text: str) -> Callable[[Callable[[Settings, argparse.Namespace], int]], Callable[[Settings, argparse.Namespace], int]]:
    def register(fn: Callable[[Settings, argparse.Namespace], int]) -> Callable[[Settings, argparse.Namespace], int]:
        COMMANDS[name] = (help_text, fn)
        return fn

    return register


def configure_logging(level: str) -> None:
    # Log lines carry ids and codes, never message bodies, names or phone numbers (no PHI).
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


@contextlib.contextmanager
def redis_available(settings: Settings) -> Iterator[Settings]:
    """Yield settings with `redis_url` set, starting the embedded Redis when it is unset."""
    if settings.redis_url:
        yield settings
        return
    embedded = EmbeddedRedis(settings.var_dir / "redis")
    url = embedded.start()
    try:
        yield settings.with_(redis_url=url)
    finally:
        embedded.stop()


async def _migrate(settings: Settings) -> None:
    from bot.db import make_engine
    from bot.migrate import upgrade

    engine = make_engine(settings.database_url)
    try:
        await upgrade(engine)
    finally:
        await engine.dispose()


@command("migrate", "apply database migrations")
def cmd_migrate(settings: Settings, _args: argparse.Namespace) -> int:
    asyncio.run(_migrate(settings))
    log.info("database migrated")
    return 0


async def _seed(settings: Settings) -> None:
    from bot.booking.seed import seed_demo
    from bot.db import make_engine, make_sessionmaker

    engine = make_engine(settings.database_url)
    try:
        await seed_demo(make_sessionmaker(engine), settings)
    finally:
        await engine.dispose()


@command("seed-demo", "create the demo clinic chain (idempotent)")
def cmd_seed_demo(settings: Settings, _args: argparse.Namespace) -> int:
    asyncio.run(_seed(settings))
    log.info("demo data seeded")
    return 0


@command("serve", "run the web app (webhooks, inbox, sandbox)")
def cmd_serve(settings: Settings, _args: argparse.Namespace) -> int:
    from aiohttp import web

    from bot.app import create_app

    from bot.heap import freeze_startup_heap

    async def started(_app: web.Application) -> None:
        freeze_startup_heap()

    with redis_available(settings) as ready:
        app = create_app(ready)
        app.on_startup.append(started)
        web.run_app(app, port=ready.port, access_log=None, print=None,
                    handle_signals=True, shutdown_timeout=10)
    return 0


@command("worker", "run the arq background worker")
def cmd_worker(settings: Settings, _args: argparse.Namespace) -> int:
    from workers.main import run_worker

    with redis_available(settings) as ready:
        return run_worker(ready)


@command("run", "the embedded default: migrate, seed the demo, then web and worker together")
def cmd_run(settings: Settings, _args: argparse.Namespace) -> int:
    cmd_migrate(settings, _args)
    cmd_seed_demo(settings, _args)
    with redis_available(settings) as ready:
        env = {**os.environ, "REDIS_URL": ready.redis_url or "", "SANDBOX": "1" if ready.sandbox else "0"}
        worker = subprocess.Popen([sys.executable, "-m", "bot", "worker"], env=env)
        print(f"MyMedic is up: {ready.public_url}/sandbox  (health: {ready.public_url}/healthz)", flush=True)
        try:
            return cmd_serve(ready, _args)
        finally:
            worker.send_signal(signal.SIGTERM)
            try:
                worker.wait(timeout=30)
            except subprocess.TimeoutExpired:
                worker.kill()


def build_parser() -> argparse.ArgumentParser:
    _load_command_modules()
    parser = argparse.ArgumentParser(prog="python -m bot", description="MyMedic booking bot")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (help_text, _fn) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text)
        adder = EXTRA_ARGUMENTS.get(name)
        if adder:
            adder(p)
    return parser


# Commands contributed by feature packages: module -> registers via `command(...)` on import,
# and may add argparse arguments through EXTRA_ARGUMENTS.
EXTRA_ARGUMENTS: dict[str, Callable[[argparse.ArgumentParser], None]] = {}
COMMAND_MODULES: tuple[str, ...] = (
    "bot.sandbox.terminal",
    "bot.templates_cli",
    "workers.cli",
)


def _load_command_modules() -> None:
    import importlib

    for name in COMMAND_MODULES:
        importlib.import_module(name)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    # `run` is the newcomer's command: the sandbox is on unless explicitly turned off.
    env = dict(os.environ)
    if argv[:1] == ["run"]:
        env.setdefault("SANDBOX", "1")
    settings = Settings.from_env(env)
    configure_logging(settings.log_level)
    args = build_parser().parse_args(argv)
    _help, fn = COMMANDS[args.command]
    return fn(settings, args)
