"""The staff inbox JSON API (the HTML inbox is a later issue).

    GET  /inbox/api/handoffs                 open handoffs (?status=open|closed|all, ?org_id=)
    GET  /inbox/api/handoffs/{id}            one handoff with its messages
    POST /inbox/api/handoffs/{id}/reply      {"text": …, "staff": …, "key": …} → sent to the patient
    POST /inbox/api/handoffs/{id}/close      {"staff": …} → the bot answers this patient again

Every call needs `Authorization: Bearer <INBOX_TOKEN>`.
"""

from __future__ import annotations

import hmac
import logging
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from bot.app_keys import ARQ, SESSIONMAKER, SETTINGS
from bot.config import Settings
from bot.db import utcnow
from bot.inbox import service
from bot.inbox.models import HandoffStatus
from bot.messages import Channel, Text
from bot.outbox import api as outbox

log = logging.getLogger(__name__)

STAFF_PURPOSE = "staff_reply"
MAX_REPLY_CHARS = 4096

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _authorized(request: web.Request) -> bool:
    token = request.app[SETTINGS].inbox_token
    header = request.headers.get("Authorization", "")
    scheme, _, given = header.partition(" ")
    return bool(token) and scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())


def _guarded(handler: Handler) -> Handler:
    async def wrapper(request: web.Request) -> web.StreamResponse:
        if not _authorized(request):
            raise web.HTTPUnauthorized(
                text='{"error": {"code": "UNAUTHORIZED"}}', content_type="application/json",
                headers={"WWW-Authenticate": "Bearer"},
            )
        try:
            return await handler(request)
        except service.InboxError as exc:
            status = 404 if isinstance(exc, service.HandoffNotFound) else 409
            return web.json_response({"error": {"code": exc.code, "message": str(exc)}}, status=status)

    return wrapper


def _error(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message}}, status=status)


def _handoff_id(request: web.Request) -> int:
    try:
        return int(request.match_info["id"])
    except ValueError:
        raise web.HTTPNotFound() from None


async def _json(request: web.Request) -> dict[str, Any]:
    if not request.can_read_body:
        return {}
    try:
        data = await request.json()
    except ValueError:
        raise web.HTTPBadRequest(text='{"error": {"code": "INVALID_JSON"}}', content_type="application/json") from None
    if not isinstance(data, dict):
        raise web.HTTPBadRequest(text='{"error": {"code": "INVALID_JSON"}}', content_type="application/json")
    return data


async def list_handoffs(request: web.Request) -> web.Response:
    status = request.query.get("status", HandoffStatus.OPEN.value)
    if status not in {"open", "closed", "all"}:
        return _error(400, "INVALID_INPUT", "status must be open, closed or all")
    org_id = request.query.get("org_id")
    async with request.app[SESSIONMAKER]() as session:
        rows = await service.list_handoffs(
            session, org_id=int(org_id) if org_id and org_id.isdigit() else None,
            status=None if status == "all" else status,
        )
    return web.json_response({"handoffs": [h.to_dict() for h in rows]})


async def get_handoff(request: web.Request) -> web.Response:
    async with request.app[SESSIONMAKER]() as session:
        handoff = await service.get_handoff(session, _handoff_id(request))
        msgs = await service.messages(session, handoff.id)
    return web.json_response({"handoff": handoff.to_dict(), "messages": [m.to_dict() for m in msgs]})


async def reply(request: web.Request) -> web.Response:
    data = await _json(request)
    text = data.get("text")
    if not isinstance(text, str) or not text.strip() or len(text) > MAX_REPLY_CHARS:
        return _error(400, "INVALID_INPUT", f"text must be 1 to {MAX_REPLY_CHARS} characters")
    staff = str(data.get("staff") or "staff")[:128]
    # A client-chosen key makes a retried POST send once; without one every POST sends.
    key = str(data.get("key") or secrets.token_hex(8))[:64]
    handoff_id = _handoff_id(request)
    now = utcnow()
    async with request.app[SESSIONMAKER]() as session, session.begin():
        handoff = await service.get_handoff(session, handoff_id)
        if handoff.status != HandoffStatus.OPEN.value:
            raise service.HandoffClosed(f"handoff {handoff_id} is closed")
        outbound_id = await outbox.queue_message(
            session, org_id=handoff.org_id, channel=Channel(handoff.channel), recipient=handoff.user_id,
            reply=Text(text.strip()), purpose=STAFF_PURPOSE, idempotency_key=f"staff:{handoff_id}:{key}",
            account=handoff.account, patient_id=handoff.patient_id,
        )
        message = await service.message_for_outbound(session, handoff_id, outbound_id)
        created = message is None
        if message is None:
            message = await service.add_message(session, handoff_id, direction="out", kind="text",
                                                body=text.strip(), at=now, staff=staff, outbound_id=outbound_id)
    await outbox.enqueue_sends(request.app[ARQ], [outbound_id])
    log.info("staff reply queued handoff=%s outbound=%s", handoff_id, outbound_id)
    return web.json_response({"message": message.to_dict(), "outbound_id": outbound_id},
                             status=201 if created else 200)


async def close(request: web.Request) -> web.Response:
    data = await _json(request)
    staff = str(data.get("staff") or "staff")[:128]
    async with request.app[SESSIONMAKER]() as session, session.begin():
        handoff = await service.close_handoff(session, _handoff_id(request), at=utcnow(), staff=staff)
    log.info("handoff closed handoff=%s", handoff.id)
    return web.json_response({"handoff": handoff.to_dict()})


def setup(app: web.Application, settings: Settings) -> None:
    """Add the inbox API routes."""
    app.router.add_get("/inbox/api/handoffs", _guarded(list_handoffs))
    app.router.add_get("/inbox/api/handoffs/{id}", _guarded(get_handoff))
    app.router.add_post("/inbox/api/handoffs/{id}/reply", _guarded(reply))
    app.router.add_post("/inbox/api/handoffs/{id}/close", _guarded(close))
