"""Golden transcripts of real conversations: what a scripted patient sent, and a readable
projection of what the sandbox emulators received from the bot in answer.

A turn's replies are awaited by count, never by time: once the webhook is answered the
outbound rows it caused are committed, so the harness knows how many sends to wait for.
They are listed in the order the dispatcher queued them (row id), and any different
arrival order at the emulator is noted in `Harness.reordered`.

Volatile parts are masked deterministically: booking codes and payment references by
order of first appearance (so "the same code" stays visible), the app's URL, and dates
relative to the pinned Monday ("Tue D+1").
"""

from __future__ import annotations

import datetime as dt
import difflib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp
from redis.asyncio import Redis
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.config import Settings
from bot.dispatch.keys import STATE_PREFIX
from bot.messages import Channel
from bot.outbox.models import InboundMessage, OutboundMessage
from bot.sandbox.patient import SandboxPatient

GOLDEN_DIR = Path(__file__).parent / "golden"
UPDATE_ENV = "UPDATE_GOLDENS"
# A bound for a loaded machine, not a speed check: a turn normally answers in well under a second.
REPLY_TIMEOUT_S = 30.0
SMS_MAX_SEGMENTS = 2

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_DATE = re.compile(r"\b(Mon|Tue|Wed|Thu|Fri|Sat|Sun)(,? )(\d{1,2}) (" + "|".join(_MONTHS) + r")\b( \d{4})?")
_CODE = re.compile(r"\bMM-[A-Z0-9]{5}\b")
_PAY_URL = re.compile(r"https?://\S+/(?:sandbox/pay|p)/\w+")
_PAY_REF = re.compile(r"\bP[A-HJ-NP-Z2-9]{9}\b")


@dataclass
class Harness:
    """The running system as the e2e tests see it (built by the `harness` fixture)."""

    settings: Settings
    http: aiohttp.ClientSession
    db: async_sessionmaker[AsyncSession]
    redis: Redis
    monday: dt.date
    reordered: list[str] = field(default_factory=list)
    # The pinned clock the app's booking core and conversations read (see conftest.PinnedClock).
    clock: Any = None

    def advance(self, **delta: float) -> None:
        """Move the pinned clock on (e.g. `advance(minutes=25)`), as time passing would."""
        self.clock.now = self.clock.now + dt.timedelta(**delta)

    def patient(self, channel: Channel, phone: str, *, name: str = "Asha") -> Script:
        """A patient writing from `phone` (on WhatsApp with a BSUID as well)."""
        user_id = f"IN.{phone.lstrip('+')[-8:]}" if channel is Channel.WHATSAPP else None
        sandbox = SandboxPatient(self.settings.public_url, self.settings, channel, phone, user_id=user_id,
                                 session=self.http, name=name, settle_s=0.0,
                                 reply_timeout_s=REPLY_TIMEOUT_S)
        return Script(self, sandbox)

    async def forget_conversations(self) -> int:
        """Lose every conversation state in Redis (as a flush or failover would)."""
        keys = [k async for k in self.redis.scan_iter(match=f"{STATE_PREFIX}*")]
        if keys:
            await self.redis.delete(*keys)
        return len(keys)

    async def count(self, model: Any, *where: Any) -> int:
        async with self.db() as s:
            return int(await s.scalar(select(func.count()).select_from(model).where(*where)) or 0)


class Masker:
    """Deterministic masks for one transcript."""

    def __init__(self, harness: Harness) -> None:
        self.harness = harness
        self.codes: dict[str, str] = {}
        self.refs: dict[str, str] = {}

    def _date(self, m: re.Match[str]) -> str:
        weekday, _sep, day, month = m.group(1), m.group(2), int(m.group(3)), _MONTHS.index(m.group(4)) + 1
        monday = self.harness.monday
        candidates = []
        for year in (monday.year - 1, monday.year, monday.year + 1):
            try:
                candidates.append(dt.date(year, month, day))
            except ValueError:
                continue
        date = min(candidates, key=lambda d: abs((d - monday).days))
        offset = (date - monday).days
        assert date.strftime("%a") == weekday, f"{m.group(0)} is not a {weekday}"
        return f"{weekday} D{offset:+d}"

    def __call__(self, text: str) -> str:
        text = text.replace(self.harness.settings.public_url, "{app}")
        text = _CODE.sub(lambda m: self.codes.setdefault(m.group(0), f"MM-CODE{len(self.codes) + 1}"), text)
        text = _PAY_REF.sub(lambda m: self.refs.setdefault(m.group(0), f"PAYREF{len(self.refs) + 1}"), text)
        return _DATE.sub(self._date, text)


def project(entry: dict[str, Any], channel: Channel) -> str:
    """A readable text of one send as the emulator recorded it."""
    view = entry.get("view") or {}
    kind, text = view.get("kind"), view.get("text") or ""
    if channel is Channel.SMS:
        segments = int(entry.get("segments") or 1)
        return text if segments == 1 else f"({segments} SMS segments, {entry.get('encoding')})\n{text}"
    if kind == "text":
        return text
    if kind in ("list", "buttons"):
        head = f"({kind}" + (f" '{view['button']}'" if view.get("button") else "") + ")"
        lines = [f"{head} {text}"]
        if view.get("header"):
            lines.insert(0, f"(header) {view['header']}")
        lines += [f"  [{o['title']}]" + (f" {o['description']}" if o.get("description") else "")
                  for o in view.get("options") or []]
        if view.get("footer"):
            lines.append(f"  (footer) {view['footer']}")
        return "\n".join(lines)
    if kind == "location":
        return f"(location {view.get('latitude')},{view.get('longitude')}) {text}"
    if kind == "cta_url":
        return f"(link {view.get('url')}) {text}"
    if kind == "template":
        params = [p.get("text") for c in view.get("components") or [] for p in c.get("parameters") or []
                  if p.get("type") == "text"]
        # The emulator renders approved templates it knows; otherwise show the parameters.
        return f"(template) {text}" if not text.startswith("[template") else f"{text} {params}"
    return f"({kind}) {text}"


def _key_of(entry: dict[str, Any], channel: Channel) -> str | None:
    if channel is Channel.WHATSAPP:
        return entry.get("callback_data")
    callback = entry.get("status_callback")
    if not callback:
        return None
    return (parse_qs(urlsplit(callback).query).get("key") or [None])[0]


class Script:
    """One patient's conversation, recorded as a transcript."""

    def __init__(self, harness: Harness, sandbox: SandboxPatient) -> None:
        self.harness = harness
        self.sandbox = sandbox
        self.channel = sandbox.channel
        self.lines: list[str] = []
        self.mask = Masker(harness)
        self.last: list[dict[str, Any]] = []   # the raw sends of the latest turn
        self.payment_url: str | None = None
        self._rows: int | None = None          # our outbound rows after the latest action
        # On SMS, what the emulator counted for every send: (is a turn's reply, segments, encoding, text).
        self.sms: list[tuple[bool, int, str, str]] = []

    @property
    def recipient(self) -> str:
        """Who our outbound rows are addressed to (the BSUID on WhatsApp, E.164 on SMS)."""
        return self.sandbox.user_id or self.sandbox.phone

    async def outbound_count(self) -> int:
        return await self.harness.count(OutboundMessage, OutboundMessage.channel == self.channel.value,
                                        OutboundMessage.recipient == self.recipient)

    # -- what the patient does -------------------------------------------------------
    async def say(self, text: str) -> list[str]:
        """Send text; returns the projected replies."""
        return await self._act(f">>> {text}", self.sandbox.say(text, wait=False))

    async def tap(self, title: str) -> list[str]:
        """Pick an option of the latest menu by its title (on SMS: reply with its number)."""
        shown = f">>> [{title}]"
        if self.channel is Channel.SMS:
            number = self._sms_number(title)
            shown = f">>> {number}"
            return await self._act(shown, self.sandbox.choose(str(number), wait=False))
        return await self._act(shown, self.sandbox.choose(title, wait=False))

    def _sms_number(self, title: str) -> int:
        # An SMS menu line is "N title" or, when it fits, "N title - description".
        wanted = title.strip().casefold()
        for entry in reversed(self.last):
            for line in ((entry.get("view") or {}).get("text") or "").splitlines():
                number, _, rest = line.partition(" ")
                rest = rest.strip().casefold()
                if number.isdigit() and (rest == wanted or rest.startswith(wanted + " - ")):
                    return int(number)
        raise AssertionError(f"no option {title!r} in the latest replies")

    async def say_unanswered(self, text: str) -> None:
        """Send text that must get no reply (a handoff): the inbound is committed when the
        webhook answers, so "no outbound row for it" is checked without waiting."""
        before = await self.outbound_count()
        inbound_before = await self.harness.count(InboundMessage)
        await self.sandbox.say(text, wait=False)
        assert await self.harness.count(InboundMessage) == inbound_before + 1, "the message was not recorded"
        assert await self.outbound_count() == before, "the bot answered during a handoff"
        self.lines += [f">>> {text}", "(no reply)", ""]

    async def pay(self) -> list[str]:
        """Open the latest payment link the bot sent and pay on the sandbox pay page."""
        assert self.payment_url, "the bot sent no payment link"
        url = self.payment_url

        async def paying() -> None:
            async with self.harness.http.get(url) as resp:
                assert resp.status == 200, await resp.text()
            async with self.harness.http.post(str(resp.url)) as resp:
                assert resp.status == 200, await resp.text()

        return await self._act(">>> (pays on the sandbox payment page)", paying())

    def last_texts(self) -> list[str]:
        """The texts of the latest turn's sends (unmasked)."""
        return [e.get("view", {}).get("text") or "" for e in self.last]

    def last_option_titles(self) -> list[str]:
        """The titles offered by the latest turn's last menu (list rows, buttons, numbered lines)."""
        for entry in reversed(self.last):
            view = entry.get("view") or {}
            if view.get("options"):
                return [o["title"] for o in view["options"]]
            numbered = [line.partition(" ")[2].partition(" - ")[0] for line in (view.get("text") or "").splitlines()
                        if line.partition(" ")[0].isdigit()]
            if numbered:
                return numbered
        return []

    def note(self, text: str) -> None:
        self.lines.append(f"--- {text}")

    # -- internals ---------------------------------------------------------------------
    async def _act(self, shown: str, action: Any) -> list[str]:
        # Only this patient's actions add rows for them, so the count after the previous
        # action is the count before this one.
        before = self._rows if self._rows is not None else await self.outbound_count()
        await action
        self._rows = await self.outbound_count()
        expected = self._rows - before
        self.lines.append(self.mask(shown))
        entries = await self.sandbox.wait_for_replies(minimum=expected) if expected else []
        assert len(entries) == expected, f"expected {expected} sends, the emulator got {len(entries)}"
        entries = await self._in_queue_order(entries)
        self.last = entries
        if self.channel is Channel.SMS:
            for entry in entries:
                reply = (_key_of(entry, self.channel) or "").startswith("in:")
                self.sms.append((reply, int(entry.get("segments") or 1), str(entry.get("encoding")),
                                 (entry.get("view") or {}).get("text") or ""))
        for entry in entries:
            view = entry.get("view") or {}
            found = view.get("url") or (m.group(0) if (m := _PAY_URL.search(view.get("text") or "")) else None)
            if found:
                self.payment_url = found
        projected = [self.mask(project(e, self.channel)) for e in entries]
        for text in projected:
            self.lines += [text, ""]
        if not projected:
            self.lines += ["(no reply)", ""]
        return projected

    async def _in_queue_order(self, entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
        # A reply's key is "in:{channel}:{inbound id}:{index}" (bot/dispatch): the index is
        # the order the turn produced it in. Other sends (a receipt) keep arrival order.
        def index(entry: dict[str, Any]) -> int:
            key = _key_of(entry, self.channel) or ""
            tail = key.rpartition(":")[2]
            return int(tail) if key.startswith("in:") and tail.isdigit() else 0

        order = [index(e) for e in entries]
        ranked = [e for _, e in sorted(zip(order, entries, strict=True), key=lambda pair: pair[0])]
        if ranked != entries:
            self.harness.reordered.append(f"{self.channel.value}: replies {order} arrived in that order")
        return ranked

    def transcript(self) -> str:
        return "\n".join(self.lines).rstrip() + "\n"


def check_sms_segments(*scripts: Script) -> None:
    """Every SMS reply to a patient's message fits in SMS_MAX_SEGMENTS (these patients all
    write in English). Other sends (template notifications such as the payment receipt,
    whose text is the registered DLT template) are only printed (-s)."""
    for script in scripts:
        for reply, count, encoding, text in script.sms:
            if not reply:
                print(f"SMS notification: {count} segments ({encoding})")
        too_long = [f"{count} segments ({encoding}): {text!r}" for reply, count, encoding, text in script.sms
                    if reply and count > SMS_MAX_SEGMENTS]
        assert not too_long, "SMS replies over two segments:\n" + "\n".join(too_long)


def check_golden(name: str, *scripts: Script, titles: tuple[str, ...] = ()) -> None:
    """Compare the transcript(s) with tests/e2e/golden/NAME.txt (UPDATE_GOLDENS=1 rewrites it),
    and check the SMS replies' length (check_sms_segments)."""
    check_sms_segments(*scripts)
    parts = []
    for index, script in enumerate(scripts):
        if len(scripts) > 1:
            parts.append(f"=== {titles[index] if index < len(titles) else f'patient {index + 1}'}\n")
        parts.append(script.transcript())
    actual = "\n".join(parts)
    path = GOLDEN_DIR / f"{name}.txt"
    if os.environ.get(UPDATE_ENV) == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(actual, encoding="utf-8")
        return
    assert path.exists(), f"no golden {path.name}: run with {UPDATE_ENV}=1 and review it"
    expected = path.read_text(encoding="utf-8")
    if actual != expected:
        diff = "".join(difflib.unified_diff(expected.splitlines(True), actual.splitlines(True),
                                            f"golden/{path.name}", "this run"))
        raise AssertionError(f"transcript differs from golden/{path.name}:\n{diff}")
