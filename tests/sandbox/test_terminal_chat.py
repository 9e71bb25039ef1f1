"""`python -m bot chat` against a live sandbox: what you type arrives signed; replies print."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import Any

from bot.messages import Buttons, InboundKind, Option
from bot.sandbox.terminal import render

Sandbox = Any  # the fixture type lives in conftest.py
ROOT = Path(__file__).resolve().parents[2]


def test_render_numbers_options() -> None:
    entry = {"view": {"kind": "list", "text": "Which doctor?", "options": [{"id": "a", "title": "Dr A", "description": "Skin"}, {"id": "b", "title": "Dr B"}]}}
    assert render(entry) == "Which doctor?\n  [1] Dr A — Skin\n  [2] Dr B"


async def test_terminal_chat_round_trip(sandbox: Sandbox) -> None:
    env = {**os.environ, "SANDBOX": "1", "PUBLIC_URL": sandbox.url, "LOG_LEVEL": "WARNING"}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "chat", "--url", sandbox.url, "--channel", "whatsapp", "--phone", "+919800000300",
        "--reply-timeout", "5",
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, cwd=ROOT, env=env,
    )
    assert proc.stdin and proc.stdout
    await proc.stdout.readline()  # banner
    proc.stdin.write(b"hello\n")
    await proc.stdin.drain()
    for _ in range(1000):
        if sandbox.received.inbounds:
            break
        await asyncio.sleep(0.01)
    [inbound] = sandbox.received.inbounds
    assert inbound.text == "hello" and inbound.phone == "+919800000300"
    await sandbox.wa.send(inbound.user_id, Buttons("Book now?", (Option("yes", "Yes"), Option("no", "No"))), idempotency_key="t")
    assert (await proc.stdout.readline()).decode().strip() == "Book now?"
    proc.stdin.write(b"2\n/quit\n")
    await proc.stdin.drain()
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err.decode()
    choice = sandbox.received.inbounds[-1]
    assert (choice.kind, choice.choice_id) == (InboundKind.CHOICE, "no")
