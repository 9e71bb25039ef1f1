"""`python -m bot chat`: the sandbox chat in a terminal, against a running server.

Type to talk; on WhatsApp a menu's options are numbered and a number picks one;
`/loc LAT LON` shares a location; `/quit` leaves.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

import aiohttp

from bot.cli import EXTRA_ARGUMENTS, command
from bot.config import Settings
from bot.messages import Channel
from bot.sandbox.patient import SandboxError, SandboxPatient
from bot.sandbox.payloads import bsuid_for


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--url", help="server base URL (default: PUBLIC_URL)")
    parser.add_argument("--channel", choices=[c.value for c in Channel], default=Channel.WHATSAPP.value)
    parser.add_argument("--phone", default="+919800000001", help="your phone number, E.164")
    parser.add_argument("--reply-timeout", type=float, default=10.0, help="seconds to wait for the bot's answer")
    parser.add_argument("--no-bsuid", action="store_true", help="WhatsApp: send the phone only, no user_id")


EXTRA_ARGUMENTS["chat"] = _arguments


def render(entry: dict[str, Any]) -> str:
    """One bot send as terminal text."""
    view = entry.get("view") or {}
    lines = [view.get("header") or "", view.get("text") or ""]
    for number, option in enumerate(view.get("options") or [], start=1):
        desc = f" — {option['description']}" if option.get("description") else ""
        lines.append(f"  [{number}] {option['title']}{desc}")
    if view.get("footer"):
        lines.append(view["footer"])
    return "\n".join(line for line in lines if line)


async def _chat(settings: Settings, args: argparse.Namespace) -> int:
    base = (args.url or settings.public_url).rstrip("/")
    channel = Channel(args.channel)
    user_id = None if channel is Channel.SMS or args.no_bsuid else bsuid_for(args.phone)
    async with aiohttp.ClientSession() as session:
        patient = SandboxPatient(base, settings, channel, args.phone, user_id=user_id, session=session,
                                 reply_timeout_s=args.reply_timeout)
        print(f"{channel.value} chat as {args.phone} with {base} — /loc LAT LON, /quit", flush=True)
        loop = asyncio.get_running_loop()
        while True:
            line = await loop.run_in_executor(None, sys.stdin.readline)
            if not line or line.strip() == "/quit":
                return 0
            text = line.strip()
            if not text:
                continue
            try:
                if text.startswith("/loc "):
                    lat, lon = (float(x) for x in text[5:].replace(",", " ").split()[:2])
                    replies = await patient.share_location(lat, lon)
                elif channel is Channel.WHATSAPP and text.isdigit() and _options(patient):
                    options = _options(patient)
                    index = int(text) - 1
                    replies = await (patient.choose(options[index]["id"]) if 0 <= index < len(options) else patient.say(text))
                else:
                    replies = await patient.say(text)
            except (SandboxError, ValueError, aiohttp.ClientError) as exc:
                print(f"! {exc}", flush=True)
                continue
            if not replies:
                print("(no reply yet)", flush=True)
            for entry in replies:
                print(render(entry) + "\n", flush=True)


def _options(patient: SandboxPatient) -> list[dict[str, Any]]:
    for entry in reversed(patient.last_replies):
        options = (entry.get("view") or {}).get("options") or []
        if options:
            return options
    return []


@command("chat", "chat with a running server through the sandbox emulators (terminal)")
def cmd_chat(settings: Settings, args: argparse.Namespace) -> int:
    return asyncio.run(_chat(settings, args))
