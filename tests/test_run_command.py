"""The README's run path, as a newcomer types it: `python -m bot run` with no DATABASE_URL
and no REDIS_URL (SQLite under the var dir, an embedded Redis on a unix socket there).

One conversation goes through it (webhook → dispatcher → worker → emulator), then SIGTERM
must drain it: a clean exit, and no redis-server or worker left behind. Also `seed-demo`
twice changes nothing the second time, and `--help` lists the commands.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.config import PROJECT_ROOT, Settings
from bot.db import Base
from bot.sandbox.patient import SandboxPatient
from live_app import free_port

STARTUP_BOUND_S = 90.0    # migrate + seed + embedded Redis + web + worker, on a slow CI box
EXIT_BOUND_S = 60.0       # the worker's drain (send timeout + margin) plus the web shutdown
COMMAND_BOUND_S = 120.0


def _embedded_env(var_dir: Path, **extra: str) -> dict[str, str]:
    """The process environment with the embedded defaults: no database or Redis URL."""
    env = {k: v for k, v in os.environ.items()
           if k not in {"DATABASE_URL", "REDIS_URL", "PUBLIC_URL", "WHATSAPP_API_BASE", "TWILIO_API_BASE"}}
    env.update(MYMEDIC_VAR_DIR=str(var_dir), LOG_LEVEL="WARNING", **extra)
    return env


def _descendants(pid: int) -> dict[int, str]:
    """Every live descendant of `pid` (Linux /proc), as pid → command line."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry.name))
    found: dict[int, str] = {}
    todo = list(children.get(pid, []))
    while todo:
        child = todo.pop()
        try:
            found[child] = (Path("/proc") / str(child) / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        todo.extend(children.get(child, []))
    return found


def _running(pid: int) -> bool:
    """True while `pid` exists and is not a zombie (an exited child not yet reaped)."""
    try:
        state = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.fixture
def run_process(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], dict[str, str], Path]]:
    """`python -m bot run` on a free port with a fresh var dir; killed (group) if a test fails."""
    var_dir = tmp_path / "var"
    env = _embedded_env(var_dir, PORT=str(free_port()))
    log_path = tmp_path / "run.log"
    with log_path.open("wb") as log_file:
        proc = subprocess.Popen([sys.executable, "-m", "bot", "run"], cwd=PROJECT_ROOT, env=env,
                                stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            yield proc, env, log_path
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


async def _wait_healthy(url: str, proc: subprocess.Popen[bytes], log_path: Path) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + STARTUP_BOUND_S
    async with aiohttp.ClientSession() as http:
        while loop.time() < deadline:
            assert proc.poll() is None, f"`bot run` exited early:\n{log_path.read_text()[-4000:]}"
            try:
                async with http.get(f"{url}/healthz", timeout=aiohttp.ClientTimeout(total=2)) as resp:
                    if resp.status == 200:
                        return
            except (aiohttp.ClientError, TimeoutError):
                pass
            await asyncio.sleep(0.2)
    pytest.fail(f"/healthz not 200 within {STARTUP_BOUND_S}s:\n{log_path.read_text()[-4000:]}")


async def test_run_serves_a_conversation_and_drains_on_sigterm(
    run_process: tuple[subprocess.Popen[bytes], dict[str, str], Path],
) -> None:
    proc, env, log_path = run_process
    # What `bot run` reads: its environment, with the sandbox on by default (bot/cli.py main).
    settings = Settings.from_env({"SANDBOX": "1", **env})
    await _wait_healthy(settings.public_url, proc, log_path)

    # The embedded defaults were used: the SQLite file and Redis socket live in the var dir.
    assert settings.database_url.startswith("sqlite") and (settings.var_dir / "mymedic.db").exists()
    helpers = _descendants(proc.pid)
    redis_pids = [pid for pid, cmd in helpers.items() if "redis-server" in cmd]
    worker_pids = [pid for pid, cmd in helpers.items() if "bot worker" in cmd]
    assert redis_pids and worker_pids, helpers

    # One conversation through the running web app and its worker.
    async with aiohttp.ClientSession() as http:
        patient = SandboxPatient(settings.public_url, settings, "whatsapp", "+919800000301", session=http,
                                 name="Asha Verma", reply_timeout_s=30.0)
        replies = await patient.say("hi")
    assert any("Welcome to MyMedic" in r["view"]["text"] for r in replies), replies

    proc.send_signal(signal.SIGTERM)
    try:
        code = await asyncio.to_thread(proc.wait, EXIT_BOUND_S)
    except subprocess.TimeoutExpired:
        pytest.fail(f"`bot run` still running {EXIT_BOUND_S}s after SIGTERM:\n{log_path.read_text()[-4000:]}")
    assert code == 0, log_path.read_text()[-4000:]
    left = [pid for pid in (*redis_pids, *worker_pids) if _running(pid)]
    assert not left, f"left running after exit: {[helpers[p] for p in left]}"
    log_text = log_path.read_text()
    assert "Traceback" not in log_text, log_text[-4000:]


def _bot(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bot", *args], cwd=PROJECT_ROOT, env=env, text=True,
                          capture_output=True, timeout=COMMAND_BOUND_S, check=False)


async def _row_counts(engine: AsyncEngine) -> dict[str, int]:
    async with engine.connect() as conn:
        return {t.name: int(await conn.scalar(select(func.count()).select_from(t)) or 0)
                for t in Base.metadata.sorted_tables}


async def test_seed_demo_twice_is_idempotent(
    tmp_path: Path, database_url: str, engine: AsyncEngine, db: async_sessionmaker[AsyncSession],
) -> None:
    # The session's database (SQLite, or PostgreSQL when DATABASE_URL is set), emptied and migrated.
    env = {**_embedded_env(tmp_path / "var"), "DATABASE_URL": database_url}
    first = _bot("seed-demo", env=env)
    assert first.returncode == 0, first.stderr
    once = await _row_counts(engine)
    assert once["doctors"] == 10 and once["branches"] == 2, once
    second = _bot("seed-demo", env=env)
    assert second.returncode == 0, second.stderr
    assert await _row_counts(engine) == once


def test_help_lists_the_commands(tmp_path: Path) -> None:
    result = _bot("--help", env=_embedded_env(tmp_path / "var"))
    assert result.returncode == 0, result.stderr
    for name in ("run", "serve", "worker", "chat", "migrate", "seed-demo"):
        assert f"    {name}" in result.stdout, result.stdout
