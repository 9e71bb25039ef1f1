"""`GET /t/{token}`: the short join link of a tele appointment.

Records who joined and when (the first join starts the session) and redirects to the
meeting with a freshly signed JWT. Unknown or expired tokens get a plain 404/410 page.
"""

from __future__ import annotations

import logging

from aiohttp import web

from bot.app_keys import CLOCK, SESSIONMAKER, SETTINGS
from bot.config import Settings
from bot.db import utcnow
from bot.tele.rooms import record_join

log = logging.getLogger(__name__)


async def join(request: web.Request) -> web.StreamResponse:
    token = request.match_info["token"]
    if not 8 <= len(token) <= 32:
        raise web.HTTPNotFound(text="This link is not valid.")
    async with request.app[SESSIONMAKER]() as session, session.begin():
        result = await record_join(session, request.app[SETTINGS], token, now=request.app.get(CLOCK, utcnow)())
    if result is None:
        raise web.HTTPGone(text="This consultation link has expired or is not valid.")
    log.info("tele join: appointment %s role %s", result.appointment_id, result.role)
    raise web.HTTPFound(result.redirect_to)


def setup(app: web.Application, settings: Settings) -> None:
    app.router.add_get("/t/{token}", join)
