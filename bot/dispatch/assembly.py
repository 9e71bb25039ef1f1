"""Assemble the process's one `Dispatcher` from the app's resources (a cleanup context)."""

from __future__ import annotations

import importlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web

from bot.app_keys import ARQ, CLOCK, REDIS, SERVICES, SESSIONMAKER, SETTINGS
from bot.config import Settings
from bot.db import utcnow
from bot.dispatch.dispatcher import DispatchLimits, Dispatcher
from bot.messages import Inbound

log = logging.getLogger(__name__)

DISPATCHER = web.AppKey("dispatcher", Dispatcher)
_INSTALLED = web.AppKey("dispatcher_installed", bool)


def install(app: web.Application) -> None:
    """Make `app[DISPATCHER]` available while the app runs (idempotent)."""
    if app.get(_INSTALLED):
        return
    app[_INSTALLED] = True
    app.cleanup_ctx.append(_dispatcher_ctx)


def _booking_service(app: web.Application) -> Any:
    service = app[SERVICES].get("booking")
    if service is None:
        from bot.booking.service import BookingService  # noqa: PLC0415

        service = BookingService(app[SESSIONMAKER], clock=app.get(CLOCK, utcnow))
        app[SERVICES]["booking"] = service
    return service


def _payment_port(app: web.Application, booking: Any) -> Any:
    """The payment port flows use: one registered by a payments feature, else the sandbox gateway."""
    port = app[SERVICES].get("payments")
    if port is not None:
        return port
    for name in ("bot.payments.gateway", "bot.payments.sandbox"):
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError:
            continue
        gateway = getattr(module, "SandboxPaymentGateway", None)
        if gateway is not None:
            port = gateway(app[SETTINGS], booking, sessionmaker=app[SESSIONMAKER])
            app[SERVICES]["payments"] = port
            return port
    log.warning("no payment port available: prepaid bookings cannot complete")
    return None


async def _dispatcher_ctx(app: web.Application) -> AsyncIterator[None]:
    from bot.channels.senders import WhatsAppSender  # noqa: PLC0415
    from bot.dispatch.translators import TranslatorFactory  # noqa: PLC0415
    from bot.i18n import Translations  # noqa: PLC0415
    from bot.metrics import METRICS  # noqa: PLC0415

    settings: Settings = app[SETTINGS]
    booking = _booking_service(app)
    sender = WhatsAppSender(settings)

    async def mark_read(inbound: Inbound) -> None:
        await sender.mark_read(inbound.message_id, typing=True, phone_id=inbound.account)

    dispatcher = Dispatcher(
        sessionmaker=app[SESSIONMAKER], redis=app[REDIS], arq=app[ARQ], booking=booking, clock=app.get(CLOCK, utcnow),
        payments=_payment_port(app, booking), mark_read=mark_read, metrics=app.get(METRICS),
        translators=TranslatorFactory(Translations(settings.var_dir)),
        limits=DispatchLimits(inbound_burst=settings.inbound_burst,
                              inbound_refill_per_s=settings.inbound_refill_per_s),
    )
    app[DISPATCHER] = dispatcher
    app[SERVICES]["dispatcher"] = dispatcher
    yield
    await dispatcher.aclose()
    await sender.aclose()
