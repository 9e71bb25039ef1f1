"""Conversation throughput: simulated patients book through the signed webhook path.

    .venv/bin/python bench/turns.py [--patients 64] [--seconds 20] [--web 1] [--workers 1]
                                   [--database-url postgresql+asyncpg://…] [--redis-url redis://…]

Starts the bot as deployed (`python -m bot serve` and `python -m bot worker` processes,
sandbox emulators on, WhatsApp sender limit at the 1,000 msg/s tier), then N patients
each run booking conversations (say hi, then keep picking the first option offered)
through signed WhatsApp webhooks. Prints turns/s, webhook ack p50/p99, end-to-end reply
p50/p99 (webhook POST → first reply seen at the Graph emulator), and — same client,
same concurrency — the throughput of a bare aiohttp handler that only answers 200.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._harness import Deployment, free_port, summary_ms  # noqa: E402
from bot.config import Settings  # noqa: E402
from bot.redis_conn import redis_client  # noqa: E402
from bot.sandbox import payloads  # noqa: E402
from bot.sandbox.store import SandboxStore  # noqa: E402

REPLY_TIMEOUT_S = 15.0
SETTLE_S = 0.03
POLL_S = 0.002


class Stats:
    def __init__(self) -> None:
        self.ack: list[float] = []
        self.e2e: list[float] = []
        self.turns = 0
        self.timeouts = 0
        self.errors = 0


async def patient(index: int, base_url: str, settings: Settings, store: SandboxStore,
                  http: aiohttp.ClientSession, stats: Stats, stop_at: float) -> None:
    phone = f"+9198{index:08d}"
    user = phone.lstrip("+")
    async with http.post(f"{base_url}/sandbox/api/register",
                         json={"channel": "whatsapp", "phone": phone, "user_id": None, "bsuid": False}) as resp:
        await resp.read()
    seen = await store.count("whatsapp", user)
    last: list[dict] = []
    picks = 0   # options picked in the current conversation; after 10, start over
    while time.monotonic() < stop_at:
        options = [o for m in last for o in (m.get("view", {}).get("options") or [])]
        if options and picks < 10:
            first = options[0]
            kind = last[-1].get("view", {}).get("kind")
            builder = payloads.wa_button_reply if kind == "buttons" else payloads.wa_list_reply
            message = builder(first["id"], first["title"])
            picks += 1
        else:
            message = payloads.wa_text("hi")
            picks = 0
        payload = payloads.whatsapp_message_webhook(phone_id=settings.whatsapp_phone_id, message=message,
                                                    phone=phone, user_id=None, name=f"Bench {index}")
        body, headers = payloads.signed_json(payload, settings.whatsapp_app_secret)
        t0 = time.perf_counter()
        try:
            async with http.post(f"{base_url}/webhooks/whatsapp", data=body, headers=headers) as resp:
                await resp.read()
                status = resp.status
        except aiohttp.ClientError:
            stats.errors += 1
            continue
        stats.ack.append(time.perf_counter() - t0)
        if status != 200:
            stats.errors += 1
            continue
        deadline = time.monotonic() + REPLY_TIMEOUT_S
        while await store.count("whatsapp", user) <= seen:
            if time.monotonic() > deadline:
                break
            await asyncio.sleep(POLL_S)
        else:
            stats.e2e.append(time.perf_counter() - t0)
            stats.turns += 1
            # let the rest of this turn's replies land before answering
            count = await store.count("whatsapp", user)
            while True:
                await asyncio.sleep(SETTLE_S)
                again = await store.count("whatsapp", user)
                if again == count:
                    break
                count = again
            last = await store.messages("whatsapp", user, since=seen)
            seen = count
            continue
        stats.timeouts += 1
        last = []


BARE_SERVER = textwrap.dedent("""
    import sys
    from aiohttp import web
    async def ok(request):
        await request.read()
        return web.Response(text="ok")
    app = web.Application()
    app.router.add_post("/webhooks/whatsapp", ok)
    web.run_app(app, port=int(sys.argv[1]), access_log=None, print=None)
""")


async def bare_throughput(concurrency: int, seconds: float, settings: Settings) -> float:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-c", BARE_SERVER, str(port)])
    try:
        url = f"http://127.0.0.1:{port}/webhooks/whatsapp"
        payload = payloads.whatsapp_message_webhook(phone_id=settings.whatsapp_phone_id,
                                                    message=payloads.wa_text("hi"), phone="+919800000000",
                                                    user_id=None, name="Bare")
        body, headers = payloads.signed_json(payload, settings.whatsapp_app_secret)
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as http:
            for _ in range(100):
                try:
                    async with http.post(url, data=body, headers=headers) as resp:
                        await resp.read()
                    break
                except aiohttp.ClientError:
                    await asyncio.sleep(0.05)
            done = 0
            stop_at = time.monotonic() + seconds

            async def loop() -> None:
                nonlocal done
                while time.monotonic() < stop_at:
                    async with http.post(url, data=body, headers=headers) as resp:
                        await resp.read()
                    done += 1

            started = time.monotonic()
            await asyncio.gather(*(loop() for _ in range(concurrency)))
            return done / (time.monotonic() - started)
    finally:
        proc.terminate()
        proc.wait()


async def run(args: argparse.Namespace, deployment: Deployment) -> dict:
    settings = Settings.from_env(deployment.env)
    store_redis = redis_client(deployment.redis_url or "")
    store = SandboxStore(store_redis)
    stats = Stats()
    connector = aiohttp.TCPConnector(limit=args.patients)
    async with aiohttp.ClientSession(connector=connector) as http:
        # warm-up: one conversation per web process
        warm = Stats()
        await asyncio.gather(*(patient(900000 + i, url, settings, store, http, warm, time.monotonic() + 2)
                               for i, url in enumerate(deployment.base_urls)))
        cpu_before = deployment.cpu_seconds()
        started = time.monotonic()
        stop_at = started + args.seconds
        urls = deployment.base_urls
        await asyncio.gather(*(patient(i, urls[i % len(urls)], settings, store, http, stats, stop_at)
                               for i in range(args.patients)))
        elapsed = time.monotonic() - started
        cpu_after = deployment.cpu_seconds()
    await store_redis.aclose()
    cpu_per_turn = {name: round((cpu_after[name] - cpu_before.get(name, 0.0)) / max(stats.turns, 1) * 1000, 1)
                    for name in cpu_after}
    bare = await bare_throughput(args.patients, min(args.seconds, 10), settings)
    turns_per_s = stats.turns / elapsed
    return {
        "database": deployment.database_label,
        "processes": f"{args.web} web + {args.workers} worker + redis",
        "statuses": "sent,delivered,read" if args.statuses is None else (args.statuses or "none"),
        "load_average": " ".join(f"{x:.1f}" for x in os.getloadavg()),
        "patients": args.patients,
        "seconds": round(elapsed, 1),
        "turns": stats.turns,
        "turns_per_s": round(turns_per_s, 1),
        "timeouts": stats.timeouts,
        "errors": stats.errors,
        "ack": summary_ms(stats.ack),
        "end_to_end": summary_ms(stats.e2e),
        "cpu_ms_per_turn": cpu_per_turn,
        "bare_aiohttp_req_per_s": round(bare, 1),
        "ratio": round(turns_per_s / bare, 3) if bare else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--patients", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--web", type=int, default=1)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--database-url")
    parser.add_argument("--redis-url")
    parser.add_argument("--poll-ms", type=float, default=2.0,
                        help="how often each patient polls the emulator for replies (client CPU)")
    parser.add_argument("--statuses", default=None,
                        help="delivery statuses the Graph emulator posts back, e.g. 'delivered' or '' "
                             "for none (default: sent, delivered, read, as Meta does)")
    args = parser.parse_args()
    global POLL_S
    POLL_S = args.poll_ms / 1000
    extra_env = {"WHATSAPP_RATE_PER_S": "1000"}
    if args.statuses is not None:
        extra_env["MYMEDIC_SANDBOX_STATUSES"] = args.statuses
    with Deployment(database_url=args.database_url, redis_url=args.redis_url, web=args.web,
                    workers=args.workers, extra_env=extra_env) as deployment:
        result = asyncio.run(run(args, deployment))
    for key, value in result.items():
        print(f"{key:>24}: {value}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
