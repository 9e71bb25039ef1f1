"""The real worker (`workers.main.run_worker`), run as a child process by the kill/restart tests,
with a fault point that can SIGKILL the process at a chosen step of a send, or stall it.

Environment: the usual settings variables, plus
  KILL_AT      before_send | after_send | after_commit  (once: KILL_MARKER records it)
  KILL_MARKER  file written just before the kill; when present, no kill happens
  STARTED      file written when a send reaches the provider step
  STALL_S      seconds to wait at that step (a long provider call, for the drain test)
  BURST        1 = exit once the queue is empty
  NO_CRON      1 = no cron jobs (a cron run cut off by SIGKILL keeps its arq in-progress
               key for its 300 s timeout, and a burst worker after it would wait that out)
"""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path
from typing import Any

from bot.cli import configure_logging
from bot.config import Settings
from workers.main import WorkerSettings, run_worker


def main() -> int:
    settings = Settings.from_env()
    configure_logging(settings.log_level)
    kill_at = os.environ.get("KILL_AT", "")
    marker = Path(os.environ.get("KILL_MARKER") or os.devnull)
    started = os.environ.get("STARTED")
    stall_s = float(os.environ.get("STALL_S") or 0)

    async def fault(point: str, outbound_id: int) -> None:
        if point == "before_send":
            if started:
                Path(started).write_text(str(outbound_id))
            if stall_s:
                await asyncio.sleep(stall_s)
        if point == kill_at and not marker.exists():
            marker.write_text(f"{point}:{outbound_id}")
            os.kill(os.getpid(), signal.SIGKILL)

    async def on_startup(ctx: dict[str, Any]) -> None:
        await WorkerSettings.on_startup(ctx)
        ctx["fault_point"] = fault

    overrides: dict[str, Any] = {"cron_jobs": []} if os.environ.get("NO_CRON") == "1" else {}
    return run_worker(settings, on_startup=on_startup, burst=os.environ.get("BURST") == "1", **overrides)


if __name__ == "__main__":
    raise SystemExit(main())
