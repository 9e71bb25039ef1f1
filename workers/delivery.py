"""The send job: one outbound row → one provider call, exactly once where it can be.

Exactly-once holds when the process dies before the provider call (nothing recorded,
the retry sends) or after our commit (the retry finds the provider id and skips).
Between the two — the provider accepted, our commit did not happen — a retry sends
again unless a status carrying our idempotency key has arrived meanwhile (proof of
sending). Neither Meta nor Twilio accepts an idempotency key, so that is the limit.

No database transaction is held across the provider call: SQLite write transactions
lock the whole file, and a slow provider must not stall the webhooks.

Order: rows to one (channel, recipient) go out in the order they were created (row id).
A row whose earlier sibling is still owed and due does not send: its job ends ("behind")
without counting a try, and the sibling's job, once the sibling is settled (sent, failed,
dead-lettered, suppressed), enqueues the next owed row under a job id of its own (so it
is never dropped as a duplicate of the waiting row's job). The per-minute sweep is the
backstop. Rows scheduled for later (`not_before` in the future) never hold others back,
and bulk rows (campaigns, paced per recipient) stay out of the ordering: a conversation
reply must not wait out a campaign's pacing.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
from collections.abc import Awaitable, Callable
from typing import Any

from arq import Retry
from redis.exceptions import RedisError
from sqlalchemy import and_, or_, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.booking.service import latest_consent
from bot.channels.errors import (
    ReEngagementRequired,
    RecipientOptedOut,
    SendError,
    ThroughputExceeded,
)
from bot.config import Settings
from bot.metrics import SharedCounters
from bot.messages import Channel, Reply, Template
from bot.outbox import api
from bot.outbox.limits import RateLimiter
from bot.outbox.keys import SEND_JOB, send_job_id
from bot.outbox.models import DeadLetter, OutboundMessage, OutboundState
from bot.outbox.serialize import reply_from_dict

log = logging.getLogger(__name__)

# arq counts every try, including the ones a rate limit deferred; provider errors are
# counted on the row. Either limit ends in a dead letter.
SEND_MAX_TRIES = 25
MAX_PROVIDER_ATTEMPTS = 6
SEND_TIMEOUT_S = 60
# A row is leased to one run for as long as arq lets that run live
# (MYMEDIC_SEND_LEASE_S overrides it; only tests that kill workers want it shorter).
LEASE_S = SEND_TIMEOUT_S + 10
BACKOFF_BASE_S = 2.0
BACKOFF_CAP_S = 15 * 60.0
# A caller waits this long for its rate-limit slot before the job is deferred instead.
MAX_RATE_WAIT_S = 2.0
# Purposes sent to many people at once: paced per recipient (WhatsApp's pair rate limit).
BULK_PURPOSES = frozenset({"campaign", "recall", "broadcast", "bulk"})
MARKETING_PURPOSES = frozenset({"campaign", "recall", "broadcast"})
DEFAULT_RECIPIENT_PACING_S = 6.0

FaultPoint = Callable[[str, int], Awaitable[None]]


def backoff_s(attempt: int, *, retry_after_s: float | None = None) -> float:
    """Exponential backoff with jitter for the `attempt`-th failure (1-based)."""
    base = min(BACKOFF_BASE_S * 2 ** max(attempt - 1, 0), BACKOFF_CAP_S)
    delay = base * (1 + random.random() * 0.2)  # noqa: S311 - jitter, not security
    return max(delay, retry_after_s or 0.0)


def sender_account(settings: Settings, row: OutboundMessage) -> str:
    """Our sending identity for the row: its own account, else the configured default."""
    if row.account:
        return row.account
    return settings.whatsapp_phone_id if row.channel == Channel.WHATSAPP else settings.twilio_from


def lease_s(settings: Settings) -> float:
    """How long one run holds its row (MYMEDIC_SEND_LEASE_S, default job timeout + 10 s)."""
    raw = settings.extra.get("MYMEDIC_SEND_LEASE_S")
    return float(raw) if raw else float(LEASE_S)


def recipient_pacing_s(settings: Settings) -> float:
    raw = settings.extra.get("MYMEDIC_RECIPIENT_PACING_S")
    return float(raw) if raw else DEFAULT_RECIPIENT_PACING_S


async def _fault(ctx: dict[str, Any], point: str, outbound_id: int) -> None:
    # Fault-injection hook for the kill/restart tests; absent in production contexts.
    hook: FaultPoint | None = ctx.get("fault_point")
    if hook is not None:
        await hook(point, outbound_id)


async def _count(ctx: dict[str, Any], channel: str, outcome: str) -> None:
    # Metrics must never turn a finished send into a failed job (and a retried send).
    counters: SharedCounters | None = ctx.get("counters")
    if counters is None:
        return
    try:
        await counters.sent(str(channel), outcome)
    except RedisError:
        log.warning("send counter not updated (redis error)")


async def _count_error(ctx: dict[str, Any], channel: str, code: str) -> None:
    counters: SharedCounters | None = ctx.get("counters")
    if counters is None:
        return
    try:
        await counters.error(str(channel), code)
    except RedisError:
        log.warning("error counter not updated (redis error)")


async def send_message(ctx: dict[str, Any], outbound_id: int) -> str:
    """Send outbound row `outbound_id` if it is still owed; returns what happened."""
    clock: Callable[[], dt.datetime] = ctx["clock"]
    prepared = await _prepare(ctx, outbound_id, clock())
    if isinstance(prepared, str):
        if prepared.startswith(_SETTLED_PREFIXES):
            await _kick_next(ctx, outbound_id)
        return prepared
    row, reply, used_fallback = prepared
    try:
        outcome = await _send_leased(ctx, row, reply, used_fallback)
        if outcome != "sent":  # a recorded send enqueued the next row itself
            await _kick_next(ctx, outbound_id)
        return outcome
    except Retry:
        raise  # the row was updated (lease released, due_at set) before raising
    except BaseException:
        # Anything unforeseen (Redis gone, job timeout, shutdown): give the row back now so
        # the next try or the sweep need not wait for the lease to run out.
        await _release(ctx, outbound_id, delay_s=0)
        raise


async def _send_leased(ctx: dict[str, Any], row: OutboundMessage, reply: Reply, used_fallback: bool) -> str:
    settings: Settings = ctx["settings"]
    outbound_id = row.id
    channel = Channel(row.channel)
    account = sender_account(settings, row)

    limiter: RateLimiter = ctx["limiter"]
    if row.purpose in BULK_PURPOSES:
        wait = await limiter.reserve(f"recipient:{channel}:{row.recipient}",
                                     per_s=1 / recipient_pacing_s(settings), max_wait_s=0)
        if wait:
            await _release(ctx, outbound_id, delay_s=wait)
            raise Retry(defer=wait)
    per_s = settings.whatsapp_rate_per_s if channel == Channel.WHATSAPP else settings.sms_rate_per_s
    wait = await limiter.reserve(f"sender:{channel}:{account}", per_s=per_s, max_wait_s=MAX_RATE_WAIT_S)
    if wait:
        await _release(ctx, outbound_id, delay_s=wait)
        raise Retry(defer=wait)

    await _fault(ctx, "before_send", outbound_id)
    try:
        provider_id = await _call_provider(ctx, channel, account, row, reply)
    except ReEngagementRequired as exc:
        await _count_error(ctx, channel, str(exc.code))
        fallback = reply_from_dict(row.fallback) if row.fallback else None
        if used_fallback or not isinstance(fallback, Template):
            return await _fail(ctx, outbound_id, code=str(exc.code), reason="re-engagement required, no template")
        log.info("outbound %s: 131047, sending its template fallback", outbound_id)
        used_fallback = True
        try:
            provider_id = await _call_provider(ctx, channel, account, row, fallback)
        except SendError as exc2:
            return await _on_send_error(ctx, outbound_id, channel, exc2)
    except SendError as exc:
        return await _on_send_error(ctx, outbound_id, channel, exc)
    except Exception as exc:  # noqa: BLE001 - an unknown failure is retried, then dead-lettered
        log.exception("outbound %s: unexpected send failure", outbound_id)
        return await _retry_or_dead_letter(ctx, outbound_id, channel, code=type(exc).__name__,
                                           reason="unexpected error", retry_after_s=None)

    await _fault(ctx, "after_send", outbound_id)
    await _record_sent(ctx, outbound_id, provider_id, used_fallback)
    await _fault(ctx, "after_commit", outbound_id)
    await _count(ctx, channel, "fallback" if used_fallback else "sent")
    return "sent"


async def _prepare(
    ctx: dict[str, Any], outbound_id: int, now: dt.datetime
) -> str | tuple[OutboundMessage, Reply, bool]:
    """Re-read the row and decide: skip, suppress, fail, or send (which reply).

    Sending takes the row's lease in the same transaction, so two runs of one row (a
    Redis that lost its in-progress keys, a sweep racing a slow send) never both send.
    """
    async with ctx["sessionmaker"]() as session, session.begin():
        row = await session.get(OutboundMessage, outbound_id, with_for_update=True)
        if row is None:
            return "missing"
        if row.status == OutboundState.QUEUED:
            # Proof of sending from an earlier try: a status with our key or provider id.
            await api.settle(session, row)
        if row.status != OutboundState.QUEUED:
            await _count(ctx, row.channel, "skipped")
            return f"already {row.status}"
        if row.lease_until is not None and row.lease_until > now:
            return "in flight"
        if row.not_before is not None and row.not_before > now:
            # Early (clock skew, or enqueued without a defer): the sweep sends it when due.
            row.due_at = row.not_before
            return "not due"
        earlier = None if row.purpose in BULK_PURPOSES else await _earlier_owed(session, row, now)
        if earlier is not None:
            # Not a try and not a provider attempt: the earlier row's job enqueues this one
            # once that row is settled; due_at stays as it is, so the sweep retries it too.
            return f"behind {earlier}"
        if row.purpose != api.OPT_OUT_CONFIRMATION and await api.is_opted_out(
                session, channel=row.channel, recipient=row.recipient):
            row.status = OutboundState.SUPPRESSED
            row.error_reason = "recipient opted out"
            row.updated_at = now
            await _count(ctx, row.channel, "suppressed")
            return "suppressed"
        if await _consent_withdrawn(session, row):
            row.status = OutboundState.SUPPRESSED
            row.error_reason = "no consent"
            row.updated_at = now
            await _count(ctx, row.channel, "suppressed")
            return "suppressed"
        reply = reply_from_dict(row.reply)
        used_fallback = False
        if row.channel == Channel.WHATSAPP and not isinstance(reply, Template):
            account = sender_account(ctx["settings"], row)
            if not await api.window_open(session, account=account, user_id=row.recipient, at=now):
                if row.fallback is None:
                    _mark_failed(row, now, code="outside_window",
                                 reason="outside the 24-hour window and no template fallback")
                    await _count_error(ctx, row.channel, "outside_window")
                    return "failed"
                reply = reply_from_dict(row.fallback)
                used_fallback = True
        row.lease_until = now + dt.timedelta(seconds=lease_s(ctx["settings"]))
        row.due_at = row.lease_until  # the sweep leaves a row alone while it is leased
        await session.flush()
        session.expunge(row)
        return row, reply, used_fallback


# Outcomes after which a row no longer holds its later siblings back.
_SETTLED_PREFIXES = ("already ", "suppressed", "failed", "sent", "dead letter", "gone", "missing")


def _owed_now(now: dt.datetime) -> Any:
    # A queued, ordered row that is (or was) due: a row scheduled for later holds nothing back.
    return and_(OutboundMessage.status == OutboundState.QUEUED,
                OutboundMessage.purpose.not_in(BULK_PURPOSES),
                or_(OutboundMessage.not_before.is_(None), OutboundMessage.not_before <= now))


async def _earlier_owed(session: AsyncSession, row: OutboundMessage, now: dt.datetime) -> int | None:
    """The id of an earlier row to the same recipient that is still owed, if any."""
    return (await session.execute(
        select(OutboundMessage.id)
        .where(OutboundMessage.channel == row.channel, OutboundMessage.recipient == row.recipient,
               OutboundMessage.id < row.id, _owed_now(now))
        .order_by(OutboundMessage.id).limit(1)
    )).scalar_one_or_none()


async def _kick_next(ctx: dict[str, Any], outbound_id: int) -> None:
    """Enqueue the next owed row to the same recipient, now that `outbound_id` is settled.

    Best effort: if this fails (Redis down), the sweep enqueues that row when it runs.
    """
    now: dt.datetime = ctx["clock"]()
    try:
        async with ctx["sessionmaker"]() as session:
            row = await session.get(OutboundMessage, outbound_id)
            if row is None or row.status == OutboundState.QUEUED:
                return
            following = await _following(session, row, now)
    except SQLAlchemyError:
        log.warning("outbound %s: next row not looked up; the sweep will send it", outbound_id)
        return
    await _enqueue_following(ctx, outbound_id, following, now)


async def _following(session: AsyncSession, row: OutboundMessage, now: dt.datetime) -> Any:
    """(id, due_at, lease_until) of the next owed row to `row`'s recipient, if any."""
    if row.purpose in BULK_PURPOSES:
        return None
    return (await session.execute(
        select(OutboundMessage.id, OutboundMessage.due_at, OutboundMessage.lease_until)
        .where(OutboundMessage.channel == row.channel, OutboundMessage.recipient == row.recipient,
               OutboundMessage.id > row.id, _owed_now(now))
        .order_by(OutboundMessage.id).limit(1)
    )).first()


async def _enqueue_following(ctx: dict[str, Any], outbound_id: int, following: Any, now: dt.datetime) -> None:
    if following is None:
        return
    next_id, due_at, lease_until = following
    if lease_until is not None and lease_until > now:
        return  # being sent right now: that run kicks the row after it
    try:
        # Its own job id: the waiting row's first job may still be finishing, and arq
        # would drop an enqueue under that id. A row in retry backoff keeps its backoff.
        await ctx["redis"].enqueue_job(SEND_JOB, next_id, _job_id=f"{send_job_id(next_id)}:after:{outbound_id}",
                                       _defer_until=due_at if due_at > now else None)
    except (RedisError, OSError):
        log.warning("outbound %s: next row not enqueued; the sweep will", outbound_id)


async def _release(ctx: dict[str, Any], outbound_id: int, *, delay_s: float) -> None:
    """Give a leased row back, due again in `delay_s` (best effort: the lease expires anyway)."""
    now: dt.datetime = ctx["clock"]()
    try:
        async with ctx["sessionmaker"]() as session, session.begin():
            row = await session.get(OutboundMessage, outbound_id, with_for_update=True)
            if row is not None and row.status == OutboundState.QUEUED:
                row.lease_until = None
                row.due_at = now + dt.timedelta(seconds=delay_s)
    except Exception:  # noqa: BLE001 - the lease runs out on its own
        log.warning("outbound %s: lease not released", outbound_id)


async def _consent_withdrawn(session: AsyncSession, row: OutboundMessage) -> bool:
    """The consent registry's answer for this patient, channel and purpose (latest record wins)."""
    if row.patient_id is None or row.purpose == api.OPT_OUT_CONFIRMATION:
        return False
    purpose = "marketing" if row.purpose in MARKETING_PURPOSES else "service"
    decision = await latest_consent(session, row.patient_id, channel=row.channel, purpose=purpose)
    # Marketing needs a yes; service messages only stop on an explicit no.
    return decision is False or (purpose == "marketing" and decision is None)


async def _call_provider(
    ctx: dict[str, Any], channel: Channel, account: str, row: OutboundMessage, reply: Reply
) -> str:
    sender = ctx["senders"][channel]
    if channel == Channel.WHATSAPP:
        return str(await sender.send(row.recipient, reply, idempotency_key=row.idempotency_key,
                                     phone_id=account))
    return str(await sender.send(row.recipient, reply, idempotency_key=row.idempotency_key,
                                 from_=account))


async def _record_sent(ctx: dict[str, Any], outbound_id: int, provider_id: str, used_fallback: bool) -> None:
    """Commit the send, and enqueue the recipient's next owed row (read in the same transaction)."""
    now: dt.datetime = ctx["clock"]()
    async with ctx["sessionmaker"]() as session, session.begin():
        row = (await session.execute(
            select(OutboundMessage).where(OutboundMessage.id == outbound_id).with_for_update()
        )).scalar_one()
        # Statuses that beat us here, under our key or under the id the provider just gave.
        await api.settle(session, row, also_provider_id=provider_id)
        if row.provider_message_id is None:
            row.provider_message_id = provider_id
        elif row.provider_message_id != provider_id:
            log.warning("outbound %s sent twice (at-least-once window); keeping the first id", outbound_id)
        if row.status == OutboundState.QUEUED:
            row.status = OutboundState.SENT
        row.sent_at = row.sent_at or now
        row.used_fallback = used_fallback
        row.attempts += 1
        row.updated_at = now
        row.lease_until = None
        following = await _following(session, row, now)
    await _enqueue_following(ctx, outbound_id, following, now)


def _mark_failed(row: OutboundMessage, now: dt.datetime, *, code: str, reason: str) -> None:
    row.status = OutboundState.FAILED
    row.error_code = code[:32]
    row.error_reason = reason[:255]
    row.updated_at = now
    row.lease_until = None


async def _fail(ctx: dict[str, Any], outbound_id: int, *, code: str, reason: str) -> str:
    now: dt.datetime = ctx["clock"]()
    async with ctx["sessionmaker"]() as session, session.begin():
        row = await session.get(OutboundMessage, outbound_id)
        if row is not None and row.status == OutboundState.QUEUED:
            _mark_failed(row, now, code=code, reason=reason)
            row.attempts += 1
    log.info("outbound %s failed permanently: %s", outbound_id, code)
    return "failed"


async def _on_send_error(ctx: dict[str, Any], outbound_id: int, channel: Channel, exc: SendError) -> str:
    code = str(exc.code) if exc.code is not None else type(exc).__name__
    await _count_error(ctx, channel, code)
    if isinstance(exc, RecipientOptedOut):
        async with ctx["sessionmaker"]() as session, session.begin():
            row = await session.get(OutboundMessage, outbound_id)
            if row is not None:
                await api.set_opt_out(session, channel=channel, recipient=row.recipient, opted_out=True,
                                      source=f"provider:{code}", at=ctx["clock"]())
        return await _fail(ctx, outbound_id, code=code, reason="recipient opted out (provider)")
    if exc.retryable:
        retry_after = exc.retry_after_s if isinstance(exc, ThroughputExceeded) or exc.retry_after_s else None
        return await _retry_or_dead_letter(ctx, outbound_id, channel, code=code,
                                           reason=type(exc).__name__, retry_after_s=retry_after)
    return await _fail(ctx, outbound_id, code=code, reason=type(exc).__name__)


async def _retry_or_dead_letter(
    ctx: dict[str, Any], outbound_id: int, channel: Channel, *, code: str, reason: str,
    retry_after_s: float | None,
) -> str:
    """Count the failure on the row; retry with backoff, or dead-letter on the last try."""
    now: dt.datetime = ctx["clock"]()
    job_try = int(ctx.get("job_try", 1))
    max_tries = int(ctx.get("send_max_tries", SEND_MAX_TRIES))
    max_attempts = int(ctx.get("max_provider_attempts", MAX_PROVIDER_ATTEMPTS))
    async with ctx["sessionmaker"]() as session, session.begin():
        row = await session.get(OutboundMessage, outbound_id)
        if row is None or row.status != OutboundState.QUEUED:
            return "gone"
        row.attempts += 1
        row.error_code = code[:32]
        row.updated_at = now
        row.lease_until = None
        if row.attempts >= max_attempts or job_try >= max_tries:
            _mark_failed(row, now, code=code, reason=f"dead letter: {reason}")
            session.add(DeadLetter(outbound_id=row.id, reason=f"{reason} after {row.attempts} attempts"[:255],
                                   error_code=code[:32], attempts=row.attempts, created_at=now))
            dead = True
        else:
            delay = backoff_s(row.attempts, retry_after_s=retry_after_s)
            row.due_at = now + dt.timedelta(seconds=delay)
            dead = False
    if dead:
        await _count(ctx, channel, "dead_letter")
        log.warning("outbound %s dead-lettered: %s", outbound_id, code)
        return "dead letter"
    log.info("outbound %s retry in %.1fs: %s", outbound_id, delay, code)
    raise Retry(defer=delay)
