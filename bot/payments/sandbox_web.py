"""The sandbox pay page: `GET /sandbox/pay/{reference}` shows the amount, `POST` captures.

Only wired with SANDBOX=1 (bot/features.py SANDBOX_FEATURES): it stands in for a UPI
collect page. A capture confirms the booking and queues the receipt.
"""

from __future__ import annotations

import html
import logging

from aiohttp import web

from bot.app_keys import ARQ, CLOCK, SESSIONMAKER, SETTINGS
from bot.booking.service import BookingService
from bot.config import Settings
from bot.db import utcnow
from bot.outbox.api import enqueue_sends
from bot.payments.gateway import SandboxPaymentGateway

log = logging.getLogger(__name__)

_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>MyMedic sandbox payment</title>
<style>body{{font-family:system-ui,sans-serif;max-width:28rem;margin:3rem auto;padding:0 1rem}}
button{{font-size:1.1rem;padding:.6rem 1.4rem}}</style></head><body>
<h1>Sandbox payment</h1><p>{body}</p>{form}</body></html>"""


def _gateway(request: web.Request) -> SandboxPaymentGateway:
    sessionmaker = request.app[SESSIONMAKER]
    return SandboxPaymentGateway(request.app[SETTINGS], BookingService(sessionmaker, clock=request.app.get(CLOCK, utcnow)),
                                  sessionmaker=sessionmaker)


def _page(body: str, form: str = "", status: int = 200) -> web.Response:
    return web.Response(text=_PAGE.format(body=body, form=form), content_type="text/html", status=status)


async def show(request: web.Request) -> web.Response:
    reference = request.match_info["reference"]
    link = await _gateway(request).get_link(reference)
    if link is None:
        return _page("This payment link is not valid.", status=404)
    amount = f"{link.amount_minor / 100:.2f} {html.escape(link.currency)}"
    if link.status == "captured":
        return _page(f"Payment of {amount} received (reference {html.escape(reference)}).")
    if link.status == "expired":
        return _page("This payment link has expired; the booking was released.", status=410)
    form = f'<form method="post"><button type="submit">Pay {amount}</button></form>'
    return _page(f"Amount due: {amount} (reference {html.escape(reference)}).", form)


async def pay(request: web.Request) -> web.Response:
    reference = request.match_info["reference"]
    result = await _gateway(request).capture(reference)
    if not result.ok:
        status = 404 if result.reason == "unknown" else 409
        return _page("This payment could not be taken: the booking is no longer open.", status=status)
    if result.outbound_id is not None:
        try:
            await enqueue_sends(request.app[ARQ], [result.outbound_id])
        except Exception:  # noqa: BLE001 - the outbox sweep sends it when Redis is back
            log.warning("receipt %s left for the sweep", result.outbound_id)
    return _page(f"Payment received (reference {html.escape(reference)}). Your booking is confirmed.")


async def short(request: web.Request) -> web.Response:
    """`/p/{reference}`: the short link in SMS, on to the pay page."""
    raise web.HTTPFound(f"/sandbox/pay/{request.match_info['reference']}")


def setup(app: web.Application, settings: Settings) -> None:
    app.router.add_get("/p/{reference}", short)
    app.router.add_get("/sandbox/pay/{reference}", show)
    app.router.add_post("/sandbox/pay/{reference}", pay)
