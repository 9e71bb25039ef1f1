"""Provider webhooks: WhatsApp Cloud API and Twilio SMS.

Signatures are checked first, on the raw request, and a failure answers 401/403 with
nothing done; a body that is not what the provider sends answers 400. Everything else
goes to the dispatcher, and the answer (200) is given only after what the webhook
carried is committed; 503 otherwise, so the provider delivers it again.
"""

from __future__ import annotations

import json
import logging
import time

from aiohttp import web

from bot.app_keys import SETTINGS
from bot.channels import sms, whatsapp
from bot.channels.errors import PayloadError, SignatureError
from bot.config import Settings
from bot.dispatch.assembly import DISPATCHER, install
from bot.dispatch.dispatcher import DispatchUnavailable
from bot.metrics import METRICS

log = logging.getLogger(__name__)

EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>'


def _observe(request: web.Request, channel: str, started: float, status: int) -> None:
    metrics = request.app.get(METRICS)
    if metrics is not None:
        metrics.webhook_ack_seconds.labels(channel=channel, status=str(status)).observe(
            time.perf_counter() - started)


async def whatsapp_verify(request: web.Request) -> web.Response:
    """Meta's subscription handshake: echo `hub.challenge` when the verify token matches."""
    try:
        challenge = whatsapp.verify_challenge(request.query, request.app[SETTINGS].whatsapp_verify_token)
    except SignatureError:
        raise web.HTTPForbidden(text="verification failed") from None
    return web.Response(text=challenge)


async def whatsapp_webhook(request: web.Request) -> web.Response:
    """Every entry, change, message and status of one Meta POST."""
    started = time.perf_counter()
    body = await request.read()
    header = request.headers.get(whatsapp.SIGNATURE_HEADER)
    try:
        whatsapp.verify_signature(body, header, request.app[SETTINGS].whatsapp_app_secret)
    except SignatureError:
        log.warning("whatsapp webhook refused: bad signature")
        status = 401 if not header else 403
        _observe(request, "whatsapp", started, status)
        raise web.HTTPUnauthorized(text="signature required") if status == 401 else web.HTTPForbidden(
            text="bad signature") from None
    try:
        batch = whatsapp.parse_webhook(json.loads(body))
    except (ValueError, PayloadError) as exc:
        log.warning("whatsapp webhook refused: malformed (%s)", type(exc).__name__)
        _observe(request, "whatsapp", started, 400)
        raise web.HTTPBadRequest(text="malformed payload") from None
    dispatcher = request.app[DISPATCHER]
    try:
        await dispatcher.handle_statuses(batch.statuses)
        await dispatcher.handle_inbounds(batch.inbounds)
    except DispatchUnavailable:
        _observe(request, "whatsapp", started, 503)
        raise web.HTTPServiceUnavailable(text="try again") from None
    _observe(request, "whatsapp", started, 200)
    return web.Response(text="ok")


def _twilio_url(request: web.Request) -> str:
    # Twilio signs the URL it called, byte for byte: our public URL (not what a proxy handed
    # us) plus the path and query as sent, undecoded (a key with "%26" or "%3A" in the
    # status-callback query must be checked as "%26", not as the decoded "&").
    return request.app[SETTINGS].public_url + request.raw_path


async def _verified_form(request: web.Request) -> dict[str, str]:
    form = await request.post()
    params = {k: str(v) for k, v in form.items()}
    settings = request.app[SETTINGS]
    try:
        sms.validate_signature(_twilio_url(request), params, request.headers.get(sms.SIGNATURE_HEADER),
                               settings.twilio_auth_token)
    except SignatureError:
        log.warning("sms webhook refused: bad signature")
        raise web.HTTPForbidden(text="bad signature") from None
    return params


async def sms_webhook(request: web.Request) -> web.Response:
    """One inbound SMS; answered with empty TwiML (replies go out by REST via the outbox)."""
    started = time.perf_counter()
    try:
        params = await _verified_form(request)
    except web.HTTPForbidden:
        _observe(request, "sms", started, 403)
        raise
    try:
        inbound = sms.parse_inbound(params)
    except PayloadError:
        _observe(request, "sms", started, 400)
        raise web.HTTPBadRequest(text="malformed payload") from None
    try:
        await request.app[DISPATCHER].handle_inbounds([inbound])
    except DispatchUnavailable:
        _observe(request, "sms", started, 503)
        raise web.HTTPServiceUnavailable(text="try again") from None
    _observe(request, "sms", started, 200)
    return web.Response(text=EMPTY_TWIML, content_type="text/xml")


async def sms_status_webhook(request: web.Request) -> web.Response:
    """A Twilio status callback; our idempotency key rides in the `key` query parameter."""
    params = await _verified_form(request)
    try:
        update = sms.parse_status(params, request.query.get("key") or None)
    except PayloadError:
        raise web.HTTPBadRequest(text="malformed payload") from None
    await request.app[DISPATCHER].handle_statuses([update], account=params.get("From"))
    return web.Response(text=EMPTY_TWIML, content_type="text/xml")


def setup(app: web.Application, settings: Settings) -> None:
    """Add the webhook routes and the dispatcher they hand messages to."""
    install(app)
    app.router.add_get("/webhooks/whatsapp", whatsapp_verify)
    app.router.add_post("/webhooks/whatsapp", whatsapp_webhook)
    app.router.add_post("/webhooks/sms", sms_webhook)
    app.router.add_post("/webhooks/sms/status", sms_status_webhook)
