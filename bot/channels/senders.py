"""Senders: the real provider SDKs, pointed at the configured API bases.

`WhatsAppSender` wraps `pywa_async.WhatsApp` (httpx) with its base URL set to
`WHATSAPP_API_BASE`; `SmsSender` wraps the `twilio` `Client` with an async HTTP client
that sends every request to `TWILIO_API_BASE` and never retries on its own (a retried
POST is a second SMS). Build one of each per process and share it: both are safe to use
concurrently. Provider errors come out as the typed errors of `bot.channels.errors`.
"""

from __future__ import annotations

import logging
import re
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import httpx
from httpx_aiohttp import HttpxAiohttpClient
from pywa_async import WhatsApp
from pywa_async.errors import WhatsAppError
from twilio.base.exceptions import TwilioRestException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.http.response import Response as TwilioResponse
from twilio.rest import Client as TwilioClient
from yarl import URL

from bot.channels.errors import SendError, TransientSendError, twilio_error, whatsapp_error
from bot.channels.render_sms import to_sms
from bot.channels.render_whatsapp import to_whatsapp
from bot.config import Settings
from bot.messages import Reply

log = logging.getLogger(__name__)

GRAPH_API_VERSION = "23.0"
SEND_TIMEOUT_S = 10.0
MAX_CONNECTIONS = 100
REAL_TWILIO_BASE = "https://api.twilio.com"
_PHONE = re.compile(r"^\+?\d{6,15}$")


def is_phone(identifier: str) -> bool:
    """True for a phone number / wa_id (digits, optional "+"); BSUIDs look like "IN.1234…"."""
    return bool(_PHONE.match(identifier))


class WhatsAppSender:
    """Sends replies through the WhatsApp Cloud API (or its sandbox emulator)."""

    def __init__(self, settings: Settings, *, api_version: str = GRAPH_API_VERSION, timeout_s: float = SEND_TIMEOUT_S) -> None:
        # httpx's API (what pywa speaks) over aiohttp's connection pool: httpcore's pool
        # rescans every connection for every queued request, which cost a reminder wave
        # more CPU than the sends themselves.
        session = HttpxAiohttpClient(
            timeout=timeout_s,
            limits=httpx.Limits(max_connections=MAX_CONNECTIONS, max_keepalive_connections=MAX_CONNECTIONS),
        )
        self._phone_id = settings.whatsapp_phone_id
        self._wa = WhatsApp(phone_id=settings.whatsapp_phone_id or None, token=settings.whatsapp_token, session=session, api_version=api_version)
        # pywa always points its session at graph.facebook.com; re-point it afterwards.
        session.base_url = f"{settings.whatsapp_api_base}/v{api_version}"
        self._session = session

    @property
    def client(self) -> WhatsApp:
        """The underlying pywa client (for calls this class does not wrap)."""
        return self._wa

    async def send(self, to: str, reply: Reply, *, idempotency_key: str, phone_id: str | None = None) -> str:
        """Send `reply` to a BSUID or phone number; return the provider message id (wamid)."""
        body = to_whatsapp(reply)
        typ = body["type"]
        bsuid = not is_phone(to)
        result = await self._call(
            self._wa.api.send_message(
                sender=phone_id or self._phone_id,
                to=None if bsuid else to.lstrip("+"),
                recipient=to if bsuid else None,
                recipient_type="individual",
                typ=typ,
                msg=body[typ],
                biz_opaque_callback_data=idempotency_key,
            )
        )
        try:
            return str(result["messages"][0]["id"])
        except (KeyError, IndexError, TypeError) as exc:
            raise TransientSendError(None, "send answered without a message id") from exc

    async def mark_read(self, message_id: str, *, typing: bool = True, phone_id: str | None = None) -> None:
        """Mark an inbound message read and (by default) show the typing indicator."""
        sender = phone_id or self._phone_id
        if typing:
            await self._call(self._wa.api.set_indicator(phone_id=sender, message_id=message_id, typ="text"))
        else:
            await self._call(self._wa.api.mark_message_as_read(phone_id=sender, message_id=message_id))

    async def _call(self, awaitable: Any) -> dict[str, Any]:
        try:
            return await awaitable
        except WhatsAppError as exc:
            status = exc.status_code
            error = whatsapp_error(exc.code, exc.message or type(exc).__name__)
            if ((status is not None and status >= 500) or exc.is_transient) and not error.retryable:
                error = TransientSendError(exc.code, exc.message or "server error")
            log.info("whatsapp send failed code=%s status=%s type=%s", exc.code, status, type(error).__name__)
            raise error from exc
        except httpx.HTTPError as exc:
            raise TransientSendError(None, type(exc).__name__) from exc
        except RuntimeError as exc:
            if not self._session.is_closed:
                raise
            # Closed during shutdown: nothing was sent, so a later retry is safe.
            raise TransientSendError(None, "sender closed") from exc

    async def aclose(self) -> None:
        """Close the HTTP connection pool."""
        await self._session.aclose()


class _RebasedTwilioHttpClient(AsyncTwilioHttpClient):
    """Twilio's aiohttp client, sending every *.twilio.com request to `base` instead,
    with a default timeout and no retries (twilio retries re-POST, i.e. double-send)."""

    def __init__(self, base: str, timeout_s: float) -> None:
        super().__init__(pool_connections=False, timeout=timeout_s, max_retries=None)
        self._base = base.rstrip("/")
        self._timeout_s = timeout_s
        self.session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=MAX_CONNECTIONS),
            timeout=aiohttp.ClientTimeout(total=timeout_s),
        )

    def rebase(self, url: str) -> str:
        parts = urlsplit(url)
        if self._base == REAL_TWILIO_BASE or not parts.netloc.endswith("twilio.com"):
            return url
        return self._base + parts.path + (f"?{parts.query}" if parts.query else "")

    async def request(self, method: str, url: str, params: dict[str, object] | None = None, data: dict[str, object] | None = None,
                      headers: dict[str, str] | None = None, auth: tuple[str, str] | None = None,
                      timeout: float | None = None, allow_redirects: bool = False) -> TwilioResponse:
        if auth is not None:  # aiohttp deprecates `auth=`; send the same Basic header ourselves
            headers = {**(headers or {}), "Authorization": aiohttp.encode_basic_auth(auth[0], auth[1])}
        return await super().request(method, self.rebase(url), params=params, data=data, headers=headers, auth=None,
                                     timeout=timeout or self._timeout_s, allow_redirects=allow_redirects)


class SmsSender:
    """Sends replies as SMS through Twilio's Messages API (or its sandbox emulator)."""

    def __init__(self, settings: Settings, *, timeout_s: float = SEND_TIMEOUT_S) -> None:
        self._http = _RebasedTwilioHttpClient(settings.twilio_api_base, timeout_s)
        self._client = TwilioClient(settings.twilio_account_sid, settings.twilio_auth_token, http_client=self._http)
        self._from = settings.twilio_from
        self._status_url = f"{settings.public_url}/webhooks/sms/status"

    @property
    def client(self) -> TwilioClient:
        """The underlying twilio client."""
        return self._client

    def status_callback(self, idempotency_key: str) -> str:
        """The StatusCallback URL carrying our key back."""
        # yarl's canonical form: what an HTTP client sends is byte-for-byte what Twilio signs.
        return str(URL(self._status_url).with_query(key=idempotency_key))

    async def send(self, to: str, reply: Reply, *, idempotency_key: str, from_: str | None = None) -> str:
        """Send `reply` to E.164 number `to`; return the Twilio message sid (SM…)."""
        try:
            message = await self._client.messages.create_async(
                to=to,
                from_=from_ or self._from,
                body=to_sms(reply),
                status_callback=self.status_callback(idempotency_key),
            )
        except TwilioRestException as exc:
            error: SendError = twilio_error(exc.code, exc.status, exc.msg or "twilio error")
            log.info("sms send failed code=%s status=%s type=%s", exc.code, exc.status, type(error).__name__)
            raise error from exc
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise TransientSendError(None, type(exc).__name__) from exc
        except RuntimeError as exc:
            if self._http.session is None or not self._http.session.closed:
                raise
            # Closed during shutdown: nothing was sent, so a later retry is safe.
            raise TransientSendError(None, "sender closed") from exc
        if not message.sid:
            raise TransientSendError(None, "send answered without a sid")
        return str(message.sid)

    async def aclose(self) -> None:
        """Close the HTTP connection pool."""
        await self._http.close()
