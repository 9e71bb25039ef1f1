"""A scripted patient for tests, benchmarks and the terminal chat.

It builds the exact webhook bodies Meta and Twilio send, signs them with the configured
secrets, POSTs them to the server's real webhook routes and waits (bounded) for the
bot's replies to arrive at the sandbox emulators.
"""

from __future__ import annotations

import time
from typing import Any

import aiohttp

from bot.config import Settings
from bot.messages import Channel
from bot.sandbox import payloads

REPLY_TIMEOUT_S = 10.0
SETTLE_S = 0.3


class SandboxError(RuntimeError):
    """The server refused a sandbox webhook, or a choice is not on offer."""


class SandboxPatient:
    """One simulated patient on one channel.

    `say`/`choose`/`share_location` return the bot's sends that arrived in answer (each a
    dict with `view`: `{"kind", "text", "options": [{"id", "title", …}]}`).
    """

    def __init__(
        self,
        base_url: str,
        settings: Settings,
        channel: Channel | str,
        phone: str,
        *,
        user_id: str | None = None,
        session: aiohttp.ClientSession,
        name: str = "Sandbox Patient",
        lang: str | None = None,
        reply_timeout_s: float = REPLY_TIMEOUT_S,
        settle_s: float = SETTLE_S,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.settings = settings
        self.channel = Channel(channel)
        self.phone = phone if phone.startswith("+") else f"+{phone}"
        self.user_id = user_id
        self.session = session
        self.name = name
        self.lang = lang
        self.reply_timeout_s = reply_timeout_s
        self.settle_s = settle_s
        self.seen = 0                      # index of the next send we have not returned yet
        self.last_replies: list[dict[str, Any]] = []
        self.last_status: int | None = None
        self._registered = False

    @property
    def chat_user(self) -> str:
        """The key the emulators file this patient's messages under."""
        if self.channel is Channel.SMS:
            return self.phone
        return self.user_id or self.phone.lstrip("+")

    async def register(self) -> None:
        """Tell the emulators that sends to our phone or BSUID belong to this chat."""
        body = {"channel": self.channel.value, "phone": self.phone, "user_id": self.user_id, "bsuid": False, "lang": self.lang}
        async with self.session.post(f"{self.base_url}/sandbox/api/register", json=body) as resp:
            if resp.status != 200:
                raise SandboxError(f"register answered {resp.status}")
        self._registered = True

    # --- what a patient does ------------------------------------------------------

    async def say(self, text: str, *, wait: bool = True) -> list[dict[str, Any]]:
        """Send a text message; return the bot's replies."""
        if self.channel is Channel.SMS:
            return await self._send_sms(text, wait=wait)
        return await self._send_whatsapp(payloads.wa_text(text), wait=wait)

    async def choose(self, choice: str, *, wait: bool = True) -> list[dict[str, Any]]:
        """Pick an option of the latest menu by id or title (on SMS: reply with its number)."""
        menu, option, number = self._find_option(choice)
        if self.channel is Channel.SMS:
            return await self._send_sms(str(number), wait=wait)
        builder = payloads.wa_button_reply if menu["view"]["kind"] == "buttons" else payloads.wa_list_reply
        return await self._send_whatsapp(builder(option["id"], option["title"]), wait=wait, context_id=menu.get("id"))

    async def share_location(self, latitude: float, longitude: float, *, name: str | None = None, wait: bool = True) -> list[dict[str, Any]]:
        """Share a WhatsApp location pin."""
        if self.channel is Channel.SMS:
            raise SandboxError("SMS cannot share a location")
        return await self._send_whatsapp(payloads.wa_location(latitude, longitude, name), wait=wait)

    async def replies_since(self, index: int | None = None, *, wait_s: float = 0.0) -> list[dict[str, Any]]:
        """The bot's sends to us from `index` (default: those not returned yet)."""
        since = self.seen if index is None else index
        params = {"channel": self.channel.value, "user": self.chat_user, "since": str(since), "wait": str(wait_s)}
        async with self.session.get(f"{self.base_url}/sandbox/api/messages", params=params) as resp:
            if resp.status != 200:
                raise SandboxError(f"messages answered {resp.status}")
            data = await resp.json()
        return list(data["messages"])

    async def wait_for_replies(self, *, minimum: int = 1) -> list[dict[str, Any]]:
        """Wait (at most `reply_timeout_s`) for `minimum` new sends, then until `settle_s` passes quietly."""
        deadline = time.monotonic() + self.reply_timeout_s
        got: list[dict[str, Any]] = []
        while len(got) < minimum and (left := deadline - time.monotonic()) > 0:
            got += await self.replies_since(self.seen + len(got), wait_s=min(left, 5.0))
        while got and (left := deadline - time.monotonic()) > 0:
            more = await self.replies_since(self.seen + len(got), wait_s=min(left, self.settle_s))
            if not more:
                break
            got += more
        self.seen += len(got)
        self.last_replies = got
        return got

    # --- internals ------------------------------------------------------------------

    def _find_option(self, choice: str) -> tuple[dict[str, Any], dict[str, Any], int]:
        wanted = choice.strip().casefold()
        for menu in reversed(self.last_replies):
            options = menu.get("view", {}).get("options") or []
            for number, option in enumerate(options, start=1):
                if option["id"] == choice or option["title"].casefold() == wanted:
                    return menu, option, number
        if self.channel is Channel.SMS and self.last_replies:
            # SMS menus are text: match "N title" lines.
            for menu in reversed(self.last_replies):
                for line in menu.get("view", {}).get("text", "").splitlines():
                    number, _, title = line.partition(" ")
                    if number.isdigit() and (title.strip().casefold() == wanted or number == choice.strip()):
                        return menu, {"id": number, "title": title}, int(number)
        raise SandboxError(f"no option {choice!r} in the latest replies")

    async def _ensure_registered(self) -> None:
        if not self._registered:
            await self.register()

    async def _send_whatsapp(self, message: dict[str, Any], *, wait: bool, context_id: str | None = None) -> list[dict[str, Any]]:
        await self._ensure_registered()
        payload = payloads.whatsapp_message_webhook(
            phone_id=self.settings.whatsapp_phone_id, message=message, phone=self.phone,
            user_id=self.user_id, name=self.name, context_id=context_id,
        )
        body, headers = payloads.signed_json(payload, self.settings.whatsapp_app_secret)
        async with self.session.post(f"{self.base_url}/webhooks/whatsapp", data=body, headers=headers) as resp:
            self.last_status = resp.status
            await resp.read()
        return await self._after_post(wait)

    async def _send_sms(self, text: str, *, wait: bool) -> list[dict[str, Any]]:
        await self._ensure_registered()
        params = payloads.sms_inbound_params(
            account_sid=self.settings.twilio_account_sid, to=self.settings.twilio_from, from_=self.phone, body=text,
        )
        # Twilio signs the URL it was configured with: our PUBLIC_URL, not base_url.
        headers = payloads.signed_form(f"{self.settings.public_url}/webhooks/sms", params, self.settings.twilio_auth_token)
        async with self.session.post(f"{self.base_url}/webhooks/sms", data=params, headers=headers) as resp:
            self.last_status = resp.status
            await resp.read()
        return await self._after_post(wait)

    async def _after_post(self, wait: bool) -> list[dict[str, Any]]:
        if self.last_status is None or self.last_status >= 300:
            raise SandboxError(f"webhook answered {self.last_status}")
        if not wait:
            return []
        return await self.wait_for_replies()

