"""The WhatsApp Cloud API emulator: `POST /sandbox/graph/v{version}/{phone_id}/messages`.

It checks the bearer token and the payload the way Meta does (list ≤ 10 rows, titles
≤ 24, ≤ 3 buttons of ≤ 20 characters, bodies ≤ 1024 …) and answers with Graph errors,
records each accepted send, then reports signed `sent`/`delivered`/`read` statuses to our
own `/webhooks/whatsapp` carrying `biz_opaque_callback_data` back — batched, several
sends' statuses per webhook, as Meta does (see `StatusBatcher`).
"""

from __future__ import annotations

import logging
import re
import secrets
import time
from typing import Any

from aiohttp import web

from bot.message_templates import TemplateError, TemplateRegistry
from bot.sandbox import payloads
from bot.sandbox.runtime import SANDBOX, SandboxRuntime

log = logging.getLogger(__name__)

_WA_PARAM = re.compile(r"\{\{(\d+)\}\}")

INVALID_PARAMETER = 131009
MISSING_PARAMETER = 131008
GENERIC_INVALID = 100
_ALLOWED_TYPES = frozenset({"text", "interactive", "location", "template", "image", "document", "audio", "video", "sticker", "reaction", "contacts"})

_ERROR_TEXTS: dict[int, str] = {
    131047: "Re-engagement message",
    130429: "Rate limit hit",
    131056: "(Business Account, Consumer Account) pair rate limit hit",
    80007: "Rate limit issues",
    131026: "Message undeliverable",
    131000: "Something went wrong",
    131050: "User has stopped receiving marketing messages",
    190: "Invalid OAuth access token",
}


def graph_error(code: int, message: str, *, status: int = 400, details: str | None = None) -> web.Response:
    """A Graph-API-shaped error response."""
    error: dict[str, Any] = {
        "message": message,
        "type": "OAuthException",
        "code": code,
        "fbtrace_id": "A" + secrets.token_hex(10),
    }
    if details:
        error["error_data"] = {"messaging_product": "whatsapp", "details": details}
    return web.json_response({"error": error}, status=status)


class InvalidMessage(ValueError):
    def __init__(self, code: int, details: str) -> None:
        super().__init__(details)
        self.code = code
        self.details = details


def _need(obj: Any, key: str, where: str) -> Any:
    if not isinstance(obj, dict) or obj.get(key) in (None, "", [], {}):
        raise InvalidMessage(MISSING_PARAMETER, f"{where}.{key} is required")
    return obj[key]


def _max_len(value: Any, limit: int, where: str) -> None:
    if not isinstance(value, str):
        raise InvalidMessage(INVALID_PARAMETER, f"{where} must be a string")
    if len(value) > limit:
        raise InvalidMessage(INVALID_PARAMETER, f"{where} is {len(value)} characters; maximum is {limit}")


def validate_message(body: Any) -> None:
    """Raise `InvalidMessage` where Meta would reject this send."""
    if not isinstance(body, dict) or body.get("messaging_product") != "whatsapp":
        raise InvalidMessage(GENERIC_INVALID, "messaging_product must be whatsapp")
    if not body.get("to") and not body.get("recipient"):
        raise InvalidMessage(GENERIC_INVALID, "to or recipient is required")
    typ = body.get("type", "text")
    if typ not in _ALLOWED_TYPES:
        raise InvalidMessage(GENERIC_INVALID, f"unknown message type {typ}")
    content = _need(body, typ, "message")
    if typ == "text":
        _max_len(_need(content, "body", "text"), 4096, "text.body")
    elif typ == "interactive":
        _validate_interactive(content)
    elif typ == "location":
        for key in ("latitude", "longitude"):
            if not isinstance(content.get(key), int | float):
                raise InvalidMessage(MISSING_PARAMETER, f"location.{key} is required")
    elif typ == "template":
        _need(content, "name", "template")
        _need(_need(content, "language", "template"), "code", "template.language")


def _validate_interactive(inter: Any) -> None:
    kind = _need(inter, "type", "interactive")
    _max_len(_need(_need(inter, "body", "interactive"), "text", "interactive.body"), 1024, "interactive.body.text")
    if "header" in inter and inter["header"].get("type") == "text":
        _max_len(inter["header"].get("text", ""), 60, "interactive.header.text")
    if "footer" in inter:
        _max_len(inter["footer"].get("text", ""), 60, "interactive.footer.text")
    action = _need(inter, "action", "interactive")
    if kind == "list":
        _max_len(_need(action, "button", "action"), 20, "action.button")
        sections = _need(action, "sections", "action")
        if not 1 <= len(sections) <= 10:
            raise InvalidMessage(INVALID_PARAMETER, "action.sections must have 1 to 10 sections")
        rows = [row for section in sections for row in _need(section, "rows", "section")]
        if not 1 <= len(rows) <= 10:
            raise InvalidMessage(INVALID_PARAMETER, f"a list has {len(rows)} rows; maximum is 10")
        ids = [str(_need(row, "id", "row")) for row in rows]
        if len(set(ids)) != len(ids):
            raise InvalidMessage(INVALID_PARAMETER, "row ids must be unique")
        for row in rows:
            _max_len(row["id"], 200, "row.id")
            _max_len(_need(row, "title", "row"), 24, "row.title")
            if "description" in row:
                _max_len(row["description"], 72, "row.description")
    elif kind == "button":
        buttons = _need(action, "buttons", "action")
        if not 1 <= len(buttons) <= 3:
            raise InvalidMessage(INVALID_PARAMETER, f"{len(buttons)} buttons; maximum is 3")
        titles = []
        for button in buttons:
            reply = _need(button, "reply", "button")
            _max_len(_need(reply, "id", "button.reply"), 256, "button.reply.id")
            title = _need(reply, "title", "button.reply")
            _max_len(title, 20, "button.reply.title")
            titles.append(title)
        if len(set(titles)) != len(titles):
            raise InvalidMessage(INVALID_PARAMETER, "button titles must be unique")
    elif kind == "cta_url":
        params = _need(action, "parameters", "action")
        _max_len(_need(params, "display_text", "parameters"), 20, "parameters.display_text")
        _need(params, "url", "parameters")
    else:
        raise InvalidMessage(INVALID_PARAMETER, f"unsupported interactive type {kind}")


def describe(body: dict[str, Any], templates: TemplateRegistry | None = None) -> dict[str, Any]:
    """A channel-neutral view of a send for the chat page and the scripted patient:
    `{"kind", "text", "options": [{"id","title","description"}], …}`. With `templates`,
    a template message shows its registered body filled in, as the patient's phone would."""
    typ = body.get("type", "text")
    content = body.get(typ) or {}
    if typ == "text":
        return {"kind": "text", "text": content.get("body", "")}
    if typ == "interactive":
        inter = content
        view: dict[str, Any] = {
            "kind": "list" if inter.get("type") == "list" else "buttons" if inter.get("type") == "button" else inter.get("type"),
            "text": inter.get("body", {}).get("text", ""),
            "header": (inter.get("header") or {}).get("text"),
            "footer": (inter.get("footer") or {}).get("text"),
            "options": [],
        }
        action = inter.get("action") or {}
        if inter.get("type") == "list":
            view["button"] = action.get("button")
            view["options"] = [
                {"id": r["id"], "title": r["title"], "description": r.get("description")}
                for s in action.get("sections", []) for r in s.get("rows", [])
            ]
        elif inter.get("type") == "button":
            view["options"] = [{"id": b["reply"]["id"], "title": b["reply"]["title"]} for b in action.get("buttons", [])]
        elif inter.get("type") == "cta_url":
            view["url"] = (action.get("parameters") or {}).get("url")
        return view
    if typ == "location":
        return {"kind": "location", "text": f"{content.get('name', '')} {content.get('address', '')}".strip(),
                "latitude": content.get("latitude"), "longitude": content.get("longitude")}
    if typ == "template":
        return {"kind": "template", "text": _template_text(content, templates),
                "name": content.get("name"), "components": content.get("components", [])}
    return {"kind": typ, "text": f"[{typ}]"}


def _template_text(content: dict[str, Any], templates: TemplateRegistry | None) -> str:
    """The registered body with the send's body parameters in place of {{1}}, {{2}}, …"""
    name, language = str(content.get("name")), str((content.get("language") or {}).get("code"))
    placeholder = f"[template {name} / {language}]"
    if templates is None:
        return placeholder
    try:
        spec = templates.get(name)
        body = spec.whatsapp[language].body
    except (KeyError, TemplateError):
        return placeholder
    texts = [str(p.get("text", "")) for c in content.get("components") or [] if c.get("type") == "body"
             for p in c.get("parameters") or []]
    return _WA_PARAM.sub(lambda m: texts[int(m.group(1)) - 1] if int(m.group(1)) <= len(texts) else m.group(0), body)


async def messages_endpoint(request: web.Request) -> web.Response:
    """Sends, and mark-read / typing-indicator calls, on one path as on Meta."""
    arrived = time.time()  # before our own Redis round trips: the provider's receive time
    rt: SandboxRuntime = request.app[SANDBOX]
    settings = rt.settings
    auth = request.headers.get("Authorization", "")
    if auth != f"Bearer {settings.whatsapp_token}" or not settings.whatsapp_token:
        return graph_error(190, "Invalid OAuth access token - Cannot parse access token", status=401)
    try:
        body = await request.json()
    except ValueError:
        return graph_error(GENERIC_INVALID, "Invalid JSON payload")
    phone_id = request.match_info["phone_id"]
    if isinstance(body, dict) and body.get("status") == "read":
        message_id = body.get("message_id")
        if not message_id:
            return graph_error(MISSING_PARAMETER, "Parameter message_id is required")
        await rt.store.mark_read(str(message_id), typing=bool(body.get("typing_indicator")))
        return web.json_response({"success": True})
    try:
        validate_message(body)
    except InvalidMessage as exc:
        return graph_error(exc.code, "(#%d) Invalid parameter" % exc.code, details=exc.details)
    to = body.get("to")
    recipient = body.get("recipient")
    address = str(recipient or to).lstrip("+")
    failure = await rt.store.take_failure("whatsapp", address)
    if failure and failure.get("mode", "error") == "error":
        code = int(failure.get("code", 131000))
        status = int(failure.get("status") or (500 if code in (1, 2, 131000, 131016) else 400))
        return graph_error(code, _ERROR_TEXTS.get(code, "Error"), status=status, details=_ERROR_TEXTS.get(code))
    wamid = payloads.new_wamid()
    await rt.store.record("whatsapp", address, {
        "id": wamid, "phone_id": phone_id, "to": to, "recipient": recipient,
        "callback_data": body.get("biz_opaque_callback_data"), "payload": body, "view": describe(body, rt.templates()),
        "at": arrived,
    })
    contact: dict[str, Any] = {"input": str(recipient or to)}
    if to:
        contact["wa_id"] = str(to).lstrip("+")
    if recipient:
        contact["user_id"] = recipient
    statuses: list[tuple[str, list[dict[str, Any]] | None]]
    if failure:  # mode "status": accepted now, reported failed by webhook, as Meta does for 131026
        code = int(failure.get("code", 131026))
        statuses = [("failed", [{"code": code, "title": _ERROR_TEXTS.get(code, "Error"), "message": _ERROR_TEXTS.get(code, "Error")}])]
    else:
        statuses = [(status, None) for status in rt.statuses("whatsapp")]
    # Queued, not posted here: the batcher coalesces many sends' statuses into one webhook.
    timestamp = int(time.time())
    callback_data = body.get("biz_opaque_callback_data")
    rt.whatsapp_statuses.add(
        payloads.WhatsAppStatus(phone_id=phone_id, message_id=wamid, status=status, recipient_phone=to,
                                recipient_user_id=recipient, callback_data=callback_data, errors=errors,
                                timestamp=timestamp)
        for status, errors in statuses
    )
    return web.json_response({"messaging_product": "whatsapp", "contacts": [contact], "messages": [{"id": wamid}]})

