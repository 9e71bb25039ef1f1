"""The dispatcher: from a verified, parsed webhook to committed replies.

For each `Inbound`, in payload order:
1. tenancy: the organization owning the number it was sent to (unknown → logged, dropped);
2. flood limit: a per-user token bucket (excess → one polite "slow down", then dropped);
3. per-user order: appended to the user's FIFO; the lock holder handles it in turn
   (see `ordering`), where it is deduplicated by provider id, checked for an open
   handoff or an SMS opt-out word, run through the flow, and its replies written as
   outbound rows in the same commit as the inbound id; only then are sends enqueued.
`handle_inbounds` returns once every accepted inbound is committed, so the webhook is
acknowledged only after that; it raises `DispatchUnavailable` otherwise (the edge
answers 503 and the provider redelivers, which the database dedupe makes safe).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from arq.connections import ArqRedis
from redis.asyncio import Redis
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.booking.types import OrganizationView
from bot.channels import sms as sms_channel
from bot.db import READ_ONLY, utcnow
from bot.dispatch import codec
from bot.dispatch.keys import user_key
from bot.dispatch.ordering import UserSerializer
from bot.dispatch.ratelimit import InboundRateLimiter
from bot.dispatch.state import ConversationStore, Envelope
from bot.dispatch.translators import TranslatorFactory
from bot.inbox import service as inbox
from bot.messages import Channel, Inbound, InboundKind, Reply, StatusUpdate, Text
from bot.metrics import Metrics
from bot.outbox import api as outbox
from bot.outbox.group_commit import GroupCommit
from bot.outbox.models import InboundMessage
from flows.runtime import Conversation, TurnDeps, TurnOutcome, run_turn
from flows.understand.commands import Command, global_command
from workers.reply_wiring import may_answer_reminder, reminder_turn

log = logging.getLogger(__name__)

REPLY_PURPOSE = "reply"
TWILIO_OPTED_OUT = 21610
ORG_CACHE_TTL_S = 60.0

Clock = Callable[[], dt.datetime]
MarkRead = Callable[[Inbound], Awaitable[None]]


class DispatchUnavailable(Exception):
    """Some inbound of the webhook could not be committed; do not acknowledge it."""


@dataclass(frozen=True, slots=True)
class DispatchLimits:
    """Tunables of the dispatcher (per-user flood bucket, how long a webhook may wait)."""

    inbound_burst: int = 30
    inbound_refill_per_s: float = 0.5
    wait_timeout_s: float = 60.0


class Dispatcher:
    """Assembled once per process; every webhook hands its parsed batch to it."""

    def __init__(
        self,
        *,
        sessionmaker: async_sessionmaker[AsyncSession],
        redis: Redis,
        arq: ArqRedis,
        booking: Any,
        payments: Any,
        clock: Clock = utcnow,
        translators: TranslatorFactory | None = None,
        mark_read: MarkRead | None = None,
        metrics: Metrics | None = None,
        limits: DispatchLimits = DispatchLimits(),
    ) -> None:
        self.sessionmaker = sessionmaker
        self.redis = redis
        self.arq = arq
        self.booking = booking
        self.payments = payments
        self.clock = clock
        self.translators = translators or TranslatorFactory()
        self.metrics = metrics
        self._mark_read = mark_read
        self.store = ConversationStore(redis)
        self.serializer = UserSerializer(redis, wait_timeout_s=limits.wait_timeout_s)
        self.limiter = InboundRateLimiter(redis, burst=limits.inbound_burst,
                                          refill_per_s=limits.inbound_refill_per_s)
        self.deps = TurnDeps(booking=booking, payments=payments, clock=clock,
                             translator_for=self.translators)
        self._orgs: dict[tuple[str, str], tuple[float, OrganizationView | None]] = {}
        self._background: set[asyncio.Task[None]] = set()
        # Statuses of concurrent webhooks share transactions (see GroupCommit).
        self._statuses: GroupCommit[StatusUpdate] = GroupCommit(sessionmaker, _record_statuses)

    # -- the webhook entry points ------------------------------------------------------
    async def handle_inbounds(self, inbounds: Sequence[Inbound]) -> None:
        """Handle a webhook's messages; returns once all accepted ones are committed.

        Raises `DispatchUnavailable` when any of them could not be (answer 5xx)."""
        tickets = []
        # Sequential on purpose: the FIFO append is the arrival order, so a batch's
        # messages from one user must be appended in payload order.
        for inbound in inbounds:
            org = await self.org_for(inbound.channel, inbound.account)
            if org is None:
                log.info("inbound for unknown account channel=%s msg=%s", inbound.channel, inbound.message_id)
                self._count(inbound.channel, "unknown_account")
                continue
            ukey = user_key(inbound.channel, inbound.account, inbound.user_id)
            if not await self.limiter.allow(ukey):
                self._count(inbound.channel, "rate_limited")
                if await self.limiter.first_warning(ukey):
                    await self._slow_down(org.id, inbound)
                continue
            tickets.append(await self.serializer.enqueue(ukey, codec.encode(org.id, inbound)))
            if inbound.channel is Channel.WHATSAPP:
                self._spawn(self._read_receipt(inbound))
        if not tickets:
            return
        # Shielded: a client that hangs up must not abort an item mid-commit.
        results = await asyncio.shield(
            asyncio.gather(*(self.serializer.wait(t, self._process) for t in tickets))
        )
        if not all(results):
            raise DispatchUnavailable(f"{results.count(False)} of {len(results)} inbound not committed")

    async def handle_statuses(self, updates: Sequence[StatusUpdate], *, account: str | None = None) -> None:
        """Record delivery statuses (one commit); an SMS 21610 marks the number opted out.

        `account` is our sending number, which Twilio's callback names (`From`)."""
        if not updates:
            return
        await self._statuses.submit(updates)
        for update in updates:
            if update.error_code == TWILIO_OPTED_OUT and update.recipient and account:
                org = await self.org_for(update.channel, account)
                if org is not None:
                    await self._record_consent(org.id, None, given=False, source=f"provider:{TWILIO_OPTED_OUT}",
                                               channel=str(update.channel), phone=update.recipient)

    async def org_for(self, channel: str, account: str) -> OrganizationView | None:
        """The organization owning one of our numbers (cached briefly; ownership rarely moves)."""
        now = time.monotonic()
        cached = self._orgs.get((channel, account))
        if cached and cached[0] > now:
            return cached[1]
        org = await self.booking.org_for_channel_account(str(channel), account)
        self._orgs[(channel, account)] = (now + ORG_CACHE_TTL_S, org)
        return org

    async def aclose(self) -> None:
        """Let fire-and-forget calls (read receipts) and status writes in progress finish."""
        if self._background:
            await asyncio.gather(*self._background, return_exceptions=True)
        await self._statuses.aclose()

    # -- one inbound, under its user's lock ----------------------------------------------
    async def _process(self, payload: bytes) -> bool:
        org_id, inbound = codec.decode(payload)
        channel = inbound.channel
        async with self.sessionmaker() as session:
            # Read-only: on SQLite this probe then takes no write lock.
            await session.connection(execution_options={READ_ONLY: True})
            if await self._recorded(session, inbound):
                self._count(channel, "duplicate")
                return True
            handoff = await inbox.open_handoff_for(session, org_id=org_id, channel=channel,
                                                   user_id=inbound.user_id)
            await session.rollback()

        if channel is Channel.SMS and sms_channel.is_opt_out(inbound.text):
            await self._sms_consent(org_id, inbound, opted_out=True)
            self._count(channel, "opt_out")
        elif channel is Channel.SMS and sms_channel.is_opt_in(inbound.text) and await self._sms_opted_out(inbound):
            await self._sms_consent(org_id, inbound, opted_out=False)
            self._count(channel, "opt_in")
        elif handoff is not None and not _opt_command(inbound):
            # (Opt-out and opt-in still reach the flow: they are honoured on every path.)
            await self._to_staff(org_id, inbound, handoff.id)
            self._count(channel, "handoff")
        else:
            await self._turn(org_id, inbound)
        return True

    async def _turn(self, org_id: int, inbound: Inbound) -> None:
        channel = inbound.channel
        envelope = await self.store.load(org_id, channel, inbound.account, inbound.user_id) or Envelope()
        conversation = Conversation(org_id=org_id, channel=channel, user_id=inbound.user_id,
                                    phone=inbound.phone, profile_name=inbound.profile_name)
        outcome: TurnOutcome | None
        try:
            outcome = None
            if may_answer_reminder(inbound, envelope.state):
                # A reply to a reminder / ASAP offer / "pick a new time" (cheap pre-check above).
                outcome = await reminder_turn(inbound, envelope.state, conversation, self.deps,
                                              sessionmaker=self.sessionmaker, arq=self.arq)
            if outcome is None:
                outcome = await run_turn(inbound, envelope.state, conversation, self.deps)
            replies: Sequence[Reply] = tuple(outcome.replies)
            self._turn_count(channel, "ok")
        except Exception as exc:  # noqa: BLE001 - the patient gets an apology, never silence
            # Ids and the error type only: exception text may quote what the patient wrote.
            log.error("turn failed org=%s channel=%s msg=%s error=%s", org_id, channel,
                      inbound.message_id, type(exc).__name__)
            self._turn_count(channel, "error")
            outcome = None
            replies = (self._apology(envelope),)

        patient_id = (outcome.patient_id if outcome else None) or envelope.patient_id
        now = self.clock()
        async with self.sessionmaker() as session, session.begin():
            if not await outbox.record_inbound(session, inbound, org_id=org_id):
                # The probe above runs under the user's lock, so this is reachable only if
                # that lock lapsed mid-turn; the database still keeps it to one answer.
                await session.rollback()
                self._count(channel, "duplicate")
                return
            if channel is Channel.WHATSAPP:
                await outbox.touch_window(session, account=inbound.account, user_id=inbound.user_id,
                                          at=inbound.timestamp)
            opted_out = outcome.opted_out if outcome is not None else None
            if opted_out is not None:
                await outbox.set_opt_out(session, channel=channel, recipient=inbound.user_id,
                                         opted_out=opted_out, source="chat", at=inbound.timestamp)
            # The reply confirming an opt-out must still reach the patient who just opted out.
            purpose = outbox.OPT_OUT_CONFIRMATION if opted_out else REPLY_PURPOSE
            ids = await self._queue_replies(session, org_id, inbound, replies, patient_id=patient_id,
                                            purpose=purpose)
            if outcome is not None and outcome.handoff is not None:
                await inbox.open_handoff(
                    session, org_id=org_id, channel=channel, account=inbound.account,
                    user_id=inbound.user_id, patient_id=patient_id,
                    reason=getattr(outcome.handoff, "reason", None) or "patient_request", at=now,
                )
        self._count(channel, "handled")
        if outcome is not None:
            # Saved after the commit: a redelivery of an uncommitted turn reruns from the
            # old state rather than skipping ahead.
            envelope.state = outcome.state
            envelope.patient_id = patient_id
            envelope.turns += 1
            envelope.advance_timestamp(inbound.timestamp)
            # (An opt-out through the flow is in the consent registry already: the flow records it.)
            await self.store.save(org_id, channel, inbound.account, inbound.user_id, envelope)
        await outbox.enqueue_sends(self.arq, ids)

    async def _queue_replies(
        self, session: AsyncSession, org_id: int, inbound: Inbound, replies: Sequence[Reply], *,
        patient_id: int | None, key_prefix: str = "in", purpose: str = REPLY_PURPOSE,
    ) -> list[int]:
        ids: list[int] = []
        for index, reply in enumerate(replies):
            # Derived from the inbound id: a redelivered message can never be answered twice.
            key = f"{key_prefix}:{inbound.channel}:{inbound.message_id}:{index}"
            ids.append(await outbox.queue_message(
                session, org_id=org_id, channel=inbound.channel, recipient=inbound.user_id,
                reply=reply, purpose=purpose, idempotency_key=key, account=inbound.account,
                patient_id=patient_id, in_reply_to=inbound.message_id,
            ))
        return ids

    async def _to_staff(self, org_id: int, inbound: Inbound, handoff_id: int) -> None:
        """The bot stays silent during a handoff: the message is kept for staff."""
        async with self.sessionmaker() as session, session.begin():
            if not await outbox.record_inbound(session, inbound, org_id=org_id):
                return
            if inbound.channel is Channel.WHATSAPP:
                await outbox.touch_window(session, account=inbound.account, user_id=inbound.user_id,
                                          at=inbound.timestamp)
            await inbox.add_message(
                session, handoff_id, direction="in", kind=str(inbound.kind), body=_staff_text(inbound),
                at=self.clock(), provider_message_id=inbound.message_id,
            )

    # -- SMS opt-out / opt-in ------------------------------------------------------------
    async def _sms_opted_out(self, inbound: Inbound) -> bool:
        async with self.sessionmaker() as session:
            return await outbox.is_opted_out(session, channel=inbound.channel, recipient=inbound.user_id)

    async def _sms_consent(self, org_id: int, inbound: Inbound, *, opted_out: bool) -> None:
        """Carrier opt-out words are honoured without the flow: Twilio itself confirms them
        to the patient, so nothing is sent from here."""
        source = f"sms:{(inbound.text or '').strip().upper()[:16]}"
        async with self.sessionmaker() as session, session.begin():
            if not await outbox.record_inbound(session, inbound, org_id=org_id):
                return
            await outbox.set_opt_out(session, channel=inbound.channel, recipient=inbound.user_id,
                                     opted_out=opted_out, source=source, at=inbound.timestamp)
        await self._record_consent(org_id, inbound, given=not opted_out, source=source)

    async def _record_consent(
        self, org_id: int, inbound: Inbound | None, *, given: bool, source: str,
        patient_id: int | None = None, channel: str | None = None, phone: str | None = None,
    ) -> None:
        """Append the decision to the consent registry (withdrawal covers every purpose;
        opting back in restores service messages only, marketing needs its own yes)."""
        if patient_id is None:
            if inbound is not None and inbound.channel is Channel.WHATSAPP:
                patient = await self.booking.find_or_create_patient(
                    org_id, phone=inbound.phone, whatsapp_id=inbound.user_id)
            else:
                patient = await self.booking.find_or_create_patient(
                    org_id, phone=phone or (inbound.user_id if inbound else None))
            patient_id = patient.id
        channel = channel or (str(inbound.channel) if inbound else "sms")
        for purpose in (("service",) if given else ("service", "marketing")):
            await self.booking.record_consent(patient_id, channel=channel, purpose=purpose,
                                              given=given, source=source)

    # -- small helpers -------------------------------------------------------------------
    async def _slow_down(self, org_id: int, inbound: Inbound) -> None:
        envelope = await self.store.load(org_id, inbound.channel, inbound.account, inbound.user_id)
        t = self.translators(_language(envelope))
        reply = Text(t("You are sending messages faster than we can read them. "
                       "Please wait a minute, then send your message again."))
        async with self.sessionmaker() as session, session.begin():
            ids = await self._queue_replies(session, org_id, inbound, (reply,),
                                            patient_id=envelope.patient_id if envelope else None,
                                            key_prefix="slow")
        await outbox.enqueue_sends(self.arq, ids)

    def _apology(self, envelope: Envelope) -> Text:
        t = self.translators(_language(envelope))
        return Text(t("Sorry, something went wrong on our side. Please try again in a moment, "
                      "or reply 'menu' to start over."))

    @staticmethod
    async def _recorded(session: AsyncSession, inbound: Inbound) -> bool:
        found = await session.scalar(
            select(InboundMessage.id).where(InboundMessage.channel == str(inbound.channel),
                                            InboundMessage.provider_message_id == inbound.message_id)
        )
        return found is not None

    async def _read_receipt(self, inbound: Inbound) -> None:
        if self._mark_read is None:
            return
        try:
            await self._mark_read(inbound)
        except Exception as exc:  # noqa: BLE001 - a read receipt is a courtesy, never a failure
            log.info("mark read failed msg=%s error=%s", inbound.message_id, type(exc).__name__)

    def _spawn(self, coro: Awaitable[None]) -> None:
        task = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def _count(self, channel: str, result: str) -> None:
        if self.metrics is not None:
            self.metrics.inbound.labels(channel=str(channel), result=result).inc()

    def _turn_count(self, channel: str, outcome: str) -> None:
        if self.metrics is not None:
            self.metrics.turns.labels(channel=str(channel), outcome=outcome).inc()


async def _record_statuses(session: AsyncSession, updates: Sequence[StatusUpdate]) -> None:
    """One group commit's statuses, written set-based; a Twilio 21610 also suppresses the number."""
    await outbox.record_statuses(session, updates)
    for update in updates:
        if update.error_code == TWILIO_OPTED_OUT and update.recipient:
            await outbox.set_opt_out(session, channel=update.channel, recipient=update.recipient, opted_out=True,
                                     source=f"provider:{TWILIO_OPTED_OUT}", at=update.timestamp)


def _language(envelope: Envelope | None) -> str | None:
    state = envelope.state if envelope else None
    return state.get("lang") if isinstance(state, dict) else None


def _opt_command(inbound: Inbound) -> bool:
    """Whether the message is the patient's global stop/start command."""
    if inbound.kind is not InboundKind.TEXT:
        return False
    command = global_command(inbound.text, sms=inbound.channel is Channel.SMS)
    return command in (Command.STOP, Command.START)


def _staff_text(inbound: Inbound) -> str | None:
    if inbound.kind is InboundKind.TEXT:
        return inbound.text
    if inbound.kind is InboundKind.CHOICE:
        return inbound.choice_title or inbound.choice_id
    if inbound.kind is InboundKind.LOCATION:
        return f"{inbound.latitude},{inbound.longitude}"
    if inbound.kind is InboundKind.REACTION:
        return inbound.reaction
    return None
