"""Shared plumbing for the benchmarks: a throw-away deployment of the bot
(database, Redis, web and worker processes) started exactly as in production,
and latency summaries. Not imported by the app or the tests."""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from bot.embedded_redis import EmbeddedRedis

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def percentile(values: list[float], pct: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * (len(ordered) - 1))))
    return ordered[index]


def summary_ms(values: list[float]) -> str:
    return (f"p50 {percentile(values, 50) * 1000:.1f} ms, p95 {percentile(values, 95) * 1000:.1f} ms, "
            f"p99 {percentile(values, 99) * 1000:.1f} ms (n={len(values)})")


@dataclass
class Deployment:
    """A running bot: `web` serve processes behind one port each, `workers` arq workers."""

    database_url: str | None = None
    redis_url: str | None = None
    web: int = 1
    workers: int = 1
    extra_env: dict[str, str] = field(default_factory=dict)
    ports: list[int] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    database_label: str = ""

    def __enter__(self) -> Deployment:
        self._names: list[str] = []
        self._tmp = tempfile.TemporaryDirectory(prefix="mymedic-bench-")
        var = Path(self._tmp.name)
        self._redis = None
        if not self.redis_url:
            self._redis = EmbeddedRedis(var / "redis", persistent=False)
            self.redis_url = self._redis.start()
        self._pg_admin_url = None
        if self.database_url and self.database_url.startswith("postgresql"):
            self._pg_name = f"mymedic_bench_{secrets.token_hex(3)}"
            self._pg_admin_url = self.database_url
            asyncio.run(_pg(self.database_url, f'CREATE DATABASE "{self._pg_name}"'))
            base, _, _db = self.database_url.rpartition("/")
            self.database_url = f"{base}/{self._pg_name}"
            self.database_label = "PostgreSQL"
        elif not self.database_url:
            self.database_url = f"sqlite+aiosqlite:///{var / 'bench.db'}"
            self.database_label = "SQLite (WAL)"
        self.ports = [free_port() for _ in range(self.web)]
        self.env = {
            **os.environ,
            "MYMEDIC_VAR_DIR": str(var),
            "DATABASE_URL": self.database_url,
            "REDIS_URL": self.redis_url,
            "SANDBOX": "1",
            "PUBLIC_URL": f"http://127.0.0.1:{self.ports[0]}",
            "LOG_LEVEL": "WARNING",
            **self.extra_env,
        }
        self._cli("migrate")
        self._cli("seed-demo")
        for port in self.ports:
            self._spawn("serve", PORT=str(port))
        for _ in range(self.workers):
            self._spawn("worker")
        asyncio.run(self._wait_healthy())
        return self

    def _cli(self, *args: str) -> None:
        subprocess.run([sys.executable, "-m", "bot", *args], env=self.env, check=True, cwd=ROOT,
                       stdout=subprocess.DEVNULL)

    def _spawn(self, command: str, **env: str) -> None:
        self._names.append(command)
        self.processes.append(subprocess.Popen([sys.executable, "-m", "bot", command],
                                               env={**self.env, **env}, cwd=ROOT))

    async def _wait_healthy(self, timeout_s: float = 30) -> None:
        deadline = time.monotonic() + timeout_s
        async with aiohttp.ClientSession() as http:
            for port in self.ports:
                while True:
                    try:
                        async with http.get(f"http://127.0.0.1:{port}/healthz") as resp:
                            if resp.status == 200:
                                break
                    except aiohttp.ClientError:
                        pass
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"web on port {port} did not become healthy")
                    await asyncio.sleep(0.1)

    def cpu_seconds(self) -> dict[str, float]:
        """CPU time (user + system) used so far by each bot process, from /proc (Linux)."""
        ticks = os.sysconf("SC_CLK_TCK")
        used: dict[str, float] = {}
        for proc, name in zip(self.processes, self._names):
            try:
                fields = Path(f"/proc/{proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            used[name] = used.get(name, 0.0) + (int(fields[11]) + int(fields[12])) / ticks
        return used

    @property
    def base_urls(self) -> list[str]:
        return [f"http://127.0.0.1:{p}" for p in self.ports]

    def __exit__(self, *exc: object) -> None:
        for proc in self.processes:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.processes:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
        if self._redis:
            self._redis.stop()
        if self._pg_admin_url:
            asyncio.run(_pg(self._pg_admin_url, f'DROP DATABASE IF EXISTS "{self._pg_name}" WITH (FORCE)'))
        self._tmp.cleanup()


async def _pg(url: str, statement: str) -> None:
    from sqlalchemy import text

    from bot.db import make_engine

    engine = make_engine(url, isolation_level="AUTOCOMMIT")
    async with engine.connect() as conn:
        await conn.execute(text(statement))
    await engine.dispose()
