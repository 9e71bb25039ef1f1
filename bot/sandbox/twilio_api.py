"""The Twilio Messages API emulator: `POST /sandbox/twilio/2010-04-01/Accounts/{sid}/Messages.json`.

HTTP Basic auth with the account sid and auth token, Twilio-shaped answers and errors,
each send recorded, then signed status callbacks (queued → sent → delivered, or failed /
undelivered with an error code) POSTed to the StatusCallback URL.
"""

from __future__ import annotations

import base64
import datetime as dt
import hmac
from typing import Any

from aiohttp import web

from bot.channels.render_sms import segments
from bot.sandbox import payloads
from bot.sandbox.runtime import SANDBOX, SandboxRuntime

_ERROR_TEXTS: dict[int, str] = {
    21610: "Attempt to send to unsubscribed recipient",
    21211: "Invalid 'To' Phone Number",
    20429: "Too Many Requests",
    30003: "Unreachable destination handset",
    20500: "Internal Server Error",
    20003: "Authenticate",
}


def twilio_error(code: int, status: int) -> web.Response:
    return web.json_response(
        {"code": code, "message": _ERROR_TEXTS.get(code, "Error"), "more_info": f"https://www.twilio.com/docs/errors/{code}", "status": status},
        status=status,
    )


def _authorized(request: web.Request, sid: str, token: str) -> bool:
    header = request.headers.get("Authorization", "")
    if not header.startswith("Basic ") or not token:
        return False
    try:
        user, _, password = base64.b64decode(header[6:]).decode().partition(":")
    except ValueError:
        return False
    return hmac.compare_digest(user, sid) and hmac.compare_digest(password, token)


async def messages_endpoint(request: web.Request) -> web.Response:
    rt: SandboxRuntime = request.app[SANDBOX]
    settings = rt.settings
    sid = request.match_info["sid"]
    if sid != settings.twilio_account_sid or not _authorized(request, settings.twilio_account_sid, settings.twilio_auth_token):
        return twilio_error(20003, 401)
    form = await request.post()
    to, from_, body = form.get("To"), form.get("From"), form.get("Body")
    if not to or not isinstance(to, str) or not to.startswith("+"):
        return twilio_error(21211, 400)
    if not from_ or not body:
        return web.json_response({"code": 21602, "message": "Message body is required.", "status": 400}, status=400)
    callback = form.get("StatusCallback")
    failure = await rt.store.take_failure("sms", to)
    if failure and failure.get("mode", "error") == "error":
        code = int(failure.get("code", 20500))
        return twilio_error(code, int(failure.get("status") or (500 if code == 20500 else 429 if code == 20429 else 400)))
    message_sid = payloads.new_sms_sid()
    count, encoding = segments(str(body))
    await rt.store.record("sms", to, {
        "id": message_sid, "to": to, "from": from_, "status_callback": callback,
        "segments": count, "encoding": encoding, "view": {"kind": "sms", "text": body},
    })
    now = dt.datetime.now(dt.UTC).strftime("%a, %d %b %Y %H:%M:%S +0000")
    if isinstance(callback, str) and callback:
        statuses: list[tuple[str, int | None]] = [(status, None) for status in rt.statuses("sms")]
        if failure:  # mode "status": accepted now, reported undelivered by callback
            statuses = [("undelivered", int(failure.get("code", 30003)))]
        if statuses:
            rt.spawn(_post_callbacks(rt, callback, message_sid, to, str(from_), statuses))
    answer: dict[str, Any] = {
        "account_sid": settings.twilio_account_sid, "api_version": "2010-04-01", "body": body,
        "date_created": now, "date_sent": None, "date_updated": now, "direction": "outbound-api",
        "error_code": None, "error_message": None, "from": from_, "messaging_service_sid": None,
        "num_media": "0", "num_segments": str(count), "price": None, "price_unit": "USD",
        "sid": message_sid, "status": "queued", "subresource_uris": {},
        "to": to, "uri": f"/2010-04-01/Accounts/{sid}/Messages/{message_sid}.json",
    }
    return web.json_response(answer, status=201)


async def _post_callbacks(rt: SandboxRuntime, callback: str, message_sid: str, to: str, from_: str,
                          statuses: list[tuple[str, int | None]]) -> None:
    settings = rt.settings
    for status, code in statuses:
        params = payloads.sms_status_params(account_sid=settings.twilio_account_sid, message_sid=message_sid,
                                            status=status, to=to, from_=from_, error_code=code)
        headers = payloads.signed_form(callback, params, settings.twilio_auth_token)
        path = callback[len(settings.public_url):] if callback.startswith(settings.public_url) else None
        if path is None:
            continue  # only our own public URL is called back (the sandbox never reaches out)
        await rt.post_webhook(path, data=params, headers=headers)
