"""The send jobs: outbound rows → provider calls, exactly once where it can be.

`send_message` sends one row (conversation replies, retries); `send_batch` sends a
batch of rows (a reminder wave), with the same checks done set-based: one transaction
leases the whole batch, its sends are spaced by the shared rate limiter, and their
records share transactions (a group commit). Both go through `send_rows`.

Exactly-once holds when the process dies before the provider call (nothing recorded,
the retry sends) or after our commit (the retry finds the provider id and skips).
Between the two — the provider accepted, our commit did not happen — a retry sends
again unless a status carrying our idempotency key has arrived meanwhile (proof of
sending). Neither Meta nor Twilio accepts an idempotency key, so that is the limit. A
send's record is committed as soon as its provider call returns (concurrent records
share a commit), never held back for the rest of its batch, to keep that window short.

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

import asyncio
import datetime as dt
import logging
import random
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from arq import Retry
from redis.exceptions import RedisError
from sqlalchemy import and_, or_, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.booking.service import latest_consents
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
from bot.outbox.group_commit import GroupCommit
from bot.outbox.keys import SEND_BATCH_JOB, SEND_JOB, send_batch_job_id, send_job_id
from bot.outbox.limits import RateLimiter, SendPacer
from bot.outbox.models import DeadLetter, OutboundMessage, OutboundState, RecipientOptOut, WhatsAppWindow
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
# A caller waits this long for its (first) rate-limit slot before it is deferred instead.
MAX_RATE_WAIT_S = 2.0
# Rows one `send_batch` job takes: at 80 messages/s its slots span well under a second.
SEND_BATCH_SIZE = 50
# A wave is spaced at this share of the sender's limit: sends leave on their slots, but a
# busy event loop delays some and they arrive bunched; the margin keeps every second of
# arrivals at the provider within the limit.
WAVE_RATE_SHARE = 0.98
# A batch job starts this long before its turn (arq's poll and the leasing transaction).
BATCH_LEAD_S = 1.0
# Purposes sent to many people at once: paced per recipient (WhatsApp's pair rate limit).
BULK_PURPOSES = frozenset({"campaign", "recall", "broadcast", "bulk"})
MARKETING_PURPOSES = frozenset({"campaign", "recall", "broadcast"})
DEFAULT_RECIPIENT_PACING_S = 6.0
# Paced sends finish evenly spaced; their records wait this long to share a transaction.
# It lengthens the at-least-once window (provider accepted, record not yet committed) by
# as much, while a status carrying our key still proves the send on a retry.
RECORD_LINGER_S = 0.05
# ctx keys of the worker's group commit for send records and of its send pacer.
SEND_RECORDS = "send_records"
SEND_PACER = "send_pacer"

FaultPoint = Callable[[str, int], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Deferred:
    """A row given back, due again in `delay_s`: a rate-limit wait (`counted` False) or a
    provider failure's backoff (`counted` True: it used one of the row's attempts)."""

    delay_s: float
    counted: bool


Outcome = str | Deferred


@dataclass(slots=True)
class _Leased:
    row: OutboundMessage  # detached copy, read in the leasing transaction
    reply: Reply
    used_fallback: bool


@dataclass(slots=True)
class _SentRecord:
    """One provider acceptance to commit; the write fills in the recipient's next owed row."""

    outbound_id: int
    provider_id: str
    used_fallback: bool
    at: dt.datetime
    following: Any = None


def backoff_s(attempt: int, *, retry_after_s: float | None = None) -> float:
    """Exponential backoff with jitter for the `attempt`-th failure (1-based)."""
    base = min(BACKOFF_BASE_S * 2 ** max(attempt - 1, 0), BACKOFF_CAP_S)
    delay = base * (1 + random.random() * 0.2)  # noqa: S311 - jitter, not security
    return max(delay, retry_after_s or 0.0)


def sender_account(settings: Settings, row: OutboundMessage) -> str:
    """Our sending identity for the row: its own account, else the configured default."""
    return account_for(settings, row.channel, row.account)


def account_for(settings: Settings, channel: str, account: str | None) -> str:
    """`account`, else the configured default sender of `channel`."""
    if account:
        return account
    return settings.whatsapp_phone_id if channel == Channel.WHATSAPP else settings.twilio_from


def sender_rate_per_s(settings: Settings, channel: str) -> float:
    """The configured send limit of one sender number on `channel`."""
    return settings.whatsapp_rate_per_s if channel == Channel.WHATSAPP else settings.sms_rate_per_s


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


async def _count(ctx: dict[str, Any], channel: str, outcome: str, n: int = 1) -> None:
    # Metrics must never turn a finished send into a failed job (and a retried send).
    counters: SharedCounters | None = ctx.get("counters")
    if counters is None or n <= 0:
        return
    try:
        await counters.sent(str(channel), outcome, n)
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


# --- the jobs --------------------------------------------------------------------------

async def send_message(ctx: dict[str, Any], outbound_id: int) -> str:
    """arq job: send outbound row `outbound_id` if it is still owed; returns what happened."""
    outcome = (await send_rows(ctx, [outbound_id]))[outbound_id]
    if isinstance(outcome, Deferred):
        raise Retry(defer=outcome.delay_s)  # the row was given back (due_at set) first
    return outcome


async def send_batch(ctx: dict[str, Any], outbound_ids: list[int]) -> str:
    """arq job: send the rows of a batch that are still owed; returns a summary.

    Rows the rate limiter could not fit go on as one deferred batch; a row whose provider
    call failed retryably goes on as its own `send_message` job after its backoff (so one
    patient's failing number never holds a batch back). Either way the row's `due_at` is
    set first, so the sweep sends it if that enqueue is lost.
    """
    outcomes = await send_rows(ctx, outbound_ids, rate_share=WAVE_RATE_SHARE)
    waiting = [i for i, o in outcomes.items() if isinstance(o, Deferred) and not o.counted]
    retrying = {i: o for i, o in outcomes.items() if isinstance(o, Deferred) and o.counted}
    arq = ctx["redis"]
    now: dt.datetime = ctx["clock"]()
    try:
        if waiting:
            delay = max(o.delay_s for i, o in outcomes.items() if i in waiting)
            # A job id of its own (this batch's may still be running, and arq would drop it).
            at_ms = int((now.timestamp() + delay) * 1000)
            await arq.enqueue_job(SEND_BATCH_JOB, sorted(waiting), _defer_by=delay,
                                  _job_id=f"{send_batch_job_id(sorted(waiting))}:at{at_ms}")
        for outbound_id, outcome in retrying.items():
            at_ms = int((now.timestamp() + outcome.delay_s) * 1000)
            await arq.enqueue_job(SEND_JOB, outbound_id, _defer_by=outcome.delay_s,
                                  _job_id=f"{send_job_id(outbound_id)}:at{at_ms}")
    except (RedisError, OSError):
        log.warning("batch of %d: deferred rows not enqueued; the sweep will", len(outbound_ids))
    tally = Counter("deferred" if isinstance(o, Deferred) else o.split(" ")[0] for o in outcomes.values())
    return ", ".join(f"{k} {v}" for k, v in sorted(tally.items()))


async def enqueue_batches(arq: Any, settings: Settings, queued: Iterable[tuple[int, str, str | None]]) -> None:
    """Hand committed rows (id, channel, account) to `send_batch` jobs of up to
    `SEND_BATCH_SIZE` rows per sender, each deferred to the turn it booked on that sender's
    wave lane (see `bot.outbox.limits`): a wave queues in arq at the sender's pace instead
    of crowding the sender's slots, so a conversation reply never waits behind it.

    Best effort like every enqueue: the rows are committed and the sweep sends them anyway.
    """
    limiter = RateLimiter(arq)
    lanes: dict[tuple[str, str], list[int]] = {}
    for outbound_id, channel, account in queued:
        lanes.setdefault((channel, account_for(settings, channel, account)), []).append(outbound_id)
    for (channel, account), ids in lanes.items():
        ids.sort()
        per_s = sender_rate_per_s(settings, channel) * WAVE_RATE_SHARE
        for i in range(0, len(ids), SEND_BATCH_SIZE):
            chunk = ids[i:i + SEND_BATCH_SIZE]
            wait = await limiter.turn(f"{channel}:{account}", len(chunk), per_s=per_s) if per_s > 0 else 0.0
            # A little before its turn: leased and waiting when the previous batch's last
            # slot passes, so the sender never idles between batches.
            defer = max(wait - BATCH_LEAD_S, 0.0)
            await arq.enqueue_job(SEND_BATCH_JOB, chunk, _job_id=send_batch_job_id(chunk), _defer_by=defer or None)


async def send_rows(
    ctx: dict[str, Any], outbound_ids: Sequence[int], *, rate_share: float = 1.0
) -> dict[int, Outcome]:
    """Send every row of `outbound_ids` that is still owed, at up to `rate_share` of the
    sender's limit; returns each row's outcome."""
    clock: Callable[[], dt.datetime] = ctx["clock"]
    outcomes, leased = await _prepare(ctx, outbound_ids, clock())
    if leased:
        try:
            outcomes.update(await _send_leased(ctx, leased, rate_share))
        except BaseException:
            # Anything unforeseen (Redis gone, job timeout, shutdown): give the rows back now
            # so the next try or the sweep need not wait for the lease to run out.
            await _release(ctx, [item.row.id for item in leased], delay_s=0)
            raise
    settled = [i for i, o in outcomes.items() if isinstance(o, str) and o != "sent" and o.startswith(_SETTLED_PREFIXES)]
    if settled:  # a recorded send enqueued its recipient's next row itself
        await _kick_next(ctx, settled)
    return outcomes


# --- leasing ---------------------------------------------------------------------------

async def _prepare(
    ctx: dict[str, Any], outbound_ids: Sequence[int], now: dt.datetime
) -> tuple[dict[int, Outcome], list[_Leased]]:
    """Re-read the rows and decide each: skip, suppress, fail, or send (which reply).

    Sending takes the row's lease in the same transaction, so two runs of one row (a
    Redis that lost its in-progress keys, a sweep racing a slow send) never both send.
    Every check is one query for the whole batch.
    """
    settings: Settings = ctx["settings"]
    outcomes: dict[int, Outcome] = {}
    leased: list[_Leased] = []
    skipped: Counter[str] = Counter()
    suppressed: Counter[str] = Counter()
    async with ctx["sessionmaker"]() as session, session.begin():
        rows = list((await session.execute(
            select(OutboundMessage).where(OutboundMessage.id.in_(sorted(set(outbound_ids))))
            .order_by(OutboundMessage.id).with_for_update()
        )).scalars())
        outcomes.update({i: "missing" for i in set(outbound_ids) - {r.id for r in rows}})
        # Proof of sending from an earlier try: a status with our key or provider id.
        await api.settle_many(session, [r for r in rows if r.status == OutboundState.QUEUED])
        candidates: list[OutboundMessage] = []
        for row in rows:
            if row.status != OutboundState.QUEUED:
                skipped[row.channel] += 1
                outcomes[row.id] = f"already {row.status}"
            elif row.lease_until is not None and row.lease_until > now:
                outcomes[row.id] = "in flight"
            elif row.not_before is not None and row.not_before > now:
                # Early (clock skew, or enqueued without a defer): the sweep sends it when due.
                row.due_at = row.not_before
                outcomes[row.id] = "not due"
            else:
                candidates.append(row)
        earlier = await _earlier_owed(session, candidates, now)
        opted_out = await _opted_out(session, candidates)
        withdrawn = await _consent_withdrawn(session, candidates)
        replies = {row.id: reply_from_dict(row.reply) for row in candidates}
        windows = await _windows(session, settings, [r for r in candidates if r.channel == Channel.WHATSAPP
                                                     and not isinstance(replies[r.id], Template)])
        lease_until = now + dt.timedelta(seconds=lease_s(settings))
        for row in candidates:
            if row.id in earlier:
                # Not a try and not a provider attempt: the earlier row's job enqueues this one
                # once that row is settled; due_at stays as it is, so the sweep retries it too.
                outcomes[row.id] = f"behind {earlier[row.id]}"
                continue
            if (row.channel, row.recipient) in opted_out or row.id in withdrawn:
                row.status = OutboundState.SUPPRESSED
                row.error_reason = "recipient opted out" if (row.channel, row.recipient) in opted_out else "no consent"
                row.updated_at = now
                suppressed[row.channel] += 1
                outcomes[row.id] = "suppressed"
                continue
            reply = replies[row.id]
            used_fallback = False
            if row.channel == Channel.WHATSAPP and not isinstance(reply, Template):
                last = windows.get((sender_account(settings, row), row.recipient))
                if last is None or now - last >= api.WHATSAPP_WINDOW:
                    if row.fallback is None:
                        _mark_failed(row, now, code="outside_window",
                                     reason="outside the 24-hour window and no template fallback")
                        await _count_error(ctx, row.channel, "outside_window")
                        outcomes[row.id] = "failed"
                        continue
                    reply = reply_from_dict(row.fallback)
                    used_fallback = True
            row.lease_until = lease_until
            row.due_at = lease_until  # the sweep leaves a row alone while it is leased
            leased.append(_Leased(row, reply, used_fallback))
        await session.flush()
        for item in leased:
            session.expunge(item.row)
    for channel, n in skipped.items():
        await _count(ctx, channel, "skipped", n)
    for channel, n in suppressed.items():
        await _count(ctx, channel, "suppressed", n)
    return outcomes, leased


# Outcomes after which a row no longer holds its later siblings back.
_SETTLED_PREFIXES = ("already ", "suppressed", "failed", "sent", "dead letter", "gone", "missing")


def _owed_now(now: dt.datetime) -> Any:
    # A queued, ordered row that is (or was) due: a row scheduled for later holds nothing back.
    return and_(OutboundMessage.status == OutboundState.QUEUED,
                OutboundMessage.purpose.not_in(BULK_PURPOSES),
                or_(OutboundMessage.not_before.is_(None), OutboundMessage.not_before <= now))


async def _owed_to(session: AsyncSession, rows: Iterable[OutboundMessage], now: dt.datetime) -> list[Any]:
    """(id, channel, recipient, due_at, lease_until) of the owed, ordered rows to the
    recipients of `rows`, in id order (one query)."""
    ordered = [r for r in rows if r.purpose not in BULK_PURPOSES]
    if not ordered:
        return []
    recipients = sorted({r.recipient for r in ordered})
    return list((await session.execute(
        select(OutboundMessage.id, OutboundMessage.channel, OutboundMessage.recipient,
               OutboundMessage.due_at, OutboundMessage.lease_until)
        .where(OutboundMessage.recipient.in_(recipients), _owed_now(now))
        .order_by(OutboundMessage.id)
    )).all())


async def _earlier_owed(session: AsyncSession, rows: Sequence[OutboundMessage], now: dt.datetime) -> dict[int, int]:
    """Row id → the id of an earlier row to the same recipient that is still owed."""
    first_owed: dict[tuple[str, str], int] = {}
    for owed in await _owed_to(session, rows, now):
        first_owed.setdefault((owed.channel, owed.recipient), owed.id)
    out: dict[int, int] = {}
    for row in rows:
        first = first_owed.get((row.channel, row.recipient))
        if row.purpose not in BULK_PURPOSES and first is not None and first < row.id:
            out[row.id] = first
    return out


async def _following(session: AsyncSession, rows: Sequence[OutboundMessage], now: dt.datetime) -> dict[int, Any]:
    """Row id → (id, due_at, lease_until) of the next owed row to that row's recipient."""
    owed = await _owed_to(session, rows, now)
    out: dict[int, Any] = {}
    for row in rows:
        if row.purpose in BULK_PURPOSES:
            continue
        nxt = next((o for o in owed if o.channel == row.channel and o.recipient == row.recipient and o.id > row.id),
                   None)
        if nxt is not None:
            out[row.id] = (nxt.id, nxt.due_at, nxt.lease_until)
    return out


async def _opted_out(session: AsyncSession, rows: Sequence[OutboundMessage]) -> set[tuple[str, str]]:
    """(channel, recipient) pairs among `rows` that opted out (the opt-out confirmation itself goes)."""
    wanted = [r for r in rows if r.purpose != api.OPT_OUT_CONFIRMATION]
    if not wanted:
        return set()
    found = await session.execute(
        select(RecipientOptOut.channel, RecipientOptOut.recipient, RecipientOptOut.opted_out)
        .where(RecipientOptOut.recipient.in_(sorted({r.recipient for r in wanted}))))
    return {(c, r) for c, r, opted_out in found if opted_out}


async def _consent_withdrawn(session: AsyncSession, rows: Sequence[OutboundMessage]) -> set[int]:
    """Ids of rows the consent registry forbids (latest record per patient and channel wins):
    marketing needs a yes; service messages only stop on an explicit no."""
    out: set[int] = set()
    for purpose, is_marketing in (("marketing", True), ("service", False)):
        mine = [r for r in rows if r.patient_id is not None and r.purpose != api.OPT_OUT_CONFIRMATION
                and (r.purpose in MARKETING_PURPOSES) == is_marketing]
        if not mine:
            continue
        latest = await latest_consents(session, [r.patient_id for r in mine if r.patient_id], purpose=purpose)
        for row in mine:
            decision = latest.get((row.patient_id or 0, row.channel))
            if decision is False or (is_marketing and decision is None):
                out.add(row.id)
    return out


async def _windows(
    session: AsyncSession, settings: Settings, rows: Sequence[OutboundMessage]
) -> dict[tuple[str, str], dt.datetime]:
    """(account, user) → last inbound time of the WhatsApp users `rows` go to."""
    users = sorted({r.recipient for r in rows})
    if not users:
        return {}
    found = await session.execute(
        select(WhatsAppWindow.account, WhatsAppWindow.user_id, WhatsAppWindow.last_inbound_at)
        .where(WhatsAppWindow.user_id.in_(users)))
    return {(a, u): at for a, u, at in found}


# --- sending ---------------------------------------------------------------------------

async def _send_leased(ctx: dict[str, Any], leased: Sequence[_Leased], rate_share: float) -> dict[int, Outcome]:
    """Fit the leased rows into the rate limits, send them at their slots, record each."""
    settings: Settings = ctx["settings"]
    limiter: RateLimiter = ctx["limiter"]
    outcomes: dict[int, Outcome] = {}
    by_sender: dict[tuple[str, str], list[_Leased]] = {}
    paced_out: dict[float, list[int]] = {}
    for item in leased:
        row = item.row
        if row.purpose in BULK_PURPOSES:
            wait = await limiter.reserve(f"recipient:{row.channel}:{row.recipient}",
                                         per_s=1 / recipient_pacing_s(settings), max_wait_s=0)
            if wait:
                paced_out.setdefault(wait, []).append(row.id)
                outcomes[row.id] = Deferred(wait, counted=False)
                continue
        by_sender.setdefault((row.channel, sender_account(settings, row)), []).append(item)
    scheduled: list[tuple[_Leased, float, float]] = []
    for (channel, account), items in by_sender.items():
        per_s = sender_rate_per_s(settings, channel) * rate_share
        # The first slot within MAX_RATE_WAIT_S, the batch's others right behind it.
        spread_s = (len(items) - 1) / per_s if per_s > 0 else 0.0
        slots = await limiter.reserve_many(f"sender:{channel}:{account}", len(items), per_s=per_s,
                                           max_wait_s=MAX_RATE_WAIT_S + spread_s)
        scheduled += [(item, slots.wait_s(i), per_s) for i, item in enumerate(items[:slots.granted])]
        if len(items) > slots.granted:
            delay = slots.wait_s(slots.granted) if slots.granted else slots.retry_after_s
            for item in items[slots.granted:]:
                paced_out.setdefault(delay, []).append(item.row.id)
                outcomes[item.row.id] = Deferred(delay, counted=False)
    for delay, ids in paced_out.items():
        await _release(ctx, ids, delay_s=delay)
    # Every send runs to its own end (a failing sibling must not cut a provider call short);
    # then the first unforeseen error fails the job, whose next try skips what was sent.
    results = await asyncio.gather(*(_send_at(ctx, item, wait, per_s) for item, wait, per_s in scheduled),
                                   return_exceptions=True)
    sent: Counter[tuple[str, str]] = Counter()
    for (item, _, _), result in zip(scheduled, results, strict=True):
        if isinstance(result, BaseException):
            raise result
        outcomes[item.row.id] = result
        if result in ("sent", "fallback"):
            outcomes[item.row.id] = "sent"
            sent[(item.row.channel, result)] += 1
    for (channel, outcome), n in sent.items():  # one counter update per batch, not per send
        await _count(ctx, channel, outcome, n)
    return outcomes


async def _send_at(ctx: dict[str, Any], item: _Leased, wait_s: float, per_s: float) -> Outcome:
    """Wait for the row's rate-limit slot, call the provider, record the outcome."""
    row, used_fallback = item.row, item.used_fallback
    outbound_id = row.id
    channel = Channel(row.channel)
    account = sender_account(ctx["settings"], row)
    if wait_s > 0:
        await asyncio.sleep(wait_s)
    try:
        # Inside the try: a pacer that fails (Redis gone) gives the row back for a retry.
        await _pacer(ctx).wait(f"{channel}:{account}", per_s=per_s)
        await _fault(ctx, "before_send", outbound_id)
        try:
            provider_id = await _call_provider(ctx, channel, account, row, item.reply)
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
        record = _SentRecord(outbound_id, provider_id, used_fallback, ctx["clock"]())
        await _recorder(ctx).submit([record])
        await _fault(ctx, "after_commit", outbound_id)
        await _enqueue_following(ctx, outbound_id, record.following, ctx["clock"]())
        return "fallback" if used_fallback else "sent"  # counted by the caller, per batch
    except BaseException:
        await _release(ctx, [outbound_id], delay_s=0)
        raise


async def _call_provider(
    ctx: dict[str, Any], channel: Channel, account: str, row: OutboundMessage, reply: Reply
) -> str:
    sender = ctx["senders"][channel]
    if channel == Channel.WHATSAPP:
        return str(await sender.send(row.recipient, reply, idempotency_key=row.idempotency_key,
                                     phone_id=account))
    return str(await sender.send(row.recipient, reply, idempotency_key=row.idempotency_key,
                                 from_=account))


# --- recording -------------------------------------------------------------------------

def send_context(sessionmaker: Any, redis: Any) -> dict[str, Any]:
    """What the send jobs share across jobs in one process (`build_context` adds it: arq
    hands each job a copy of the worker's ctx, so per-job additions would not be shared)."""
    records = GroupCommit(sessionmaker, _write_sent, max_items=200, linger_s=RECORD_LINGER_S)
    return {SEND_RECORDS: records, SEND_PACER: SendPacer(redis)}


def _recorder(ctx: dict[str, Any]) -> GroupCommit[_SentRecord]:
    # A ctx built without `send_context` (a caller's own) still works, unshared.
    return ctx.get(SEND_RECORDS) or GroupCommit(ctx["sessionmaker"], _write_sent)


def _pacer(ctx: dict[str, Any]) -> SendPacer:
    return ctx.get(SEND_PACER) or SendPacer(ctx["redis"])


async def _write_sent(session: AsyncSession, records: Sequence[_SentRecord]) -> None:
    """Commit provider acceptances, and read each recipient's next owed row (same transaction)."""
    by_id = {r.outbound_id: r for r in records}
    rows = list((await session.execute(
        select(OutboundMessage).where(OutboundMessage.id.in_(sorted(by_id))).with_for_update()
    )).scalars())
    # Statuses that beat us here, under our key or under the id the provider just gave.
    await api.settle_many(session, rows, also_provider_ids={i: r.provider_id for i, r in by_id.items()})
    for row in rows:
        record = by_id[row.id]
        if row.provider_message_id is None:
            row.provider_message_id = record.provider_id
        elif row.provider_message_id != record.provider_id:
            log.warning("outbound %s sent twice (at-least-once window); keeping the first id", row.id)
        if row.status == OutboundState.QUEUED:
            row.status = OutboundState.SENT
        row.sent_at = row.sent_at or record.at
        row.used_fallback = record.used_fallback
        row.attempts += 1
        row.updated_at = record.at
        row.lease_until = None
    following = await _following(session, rows, min(r.at for r in records))
    for record in records:
        record.following = following.get(record.outbound_id)


async def _kick_next(ctx: dict[str, Any], outbound_ids: Sequence[int]) -> None:
    """Enqueue the next owed row to each recipient of these settled rows.

    Best effort: if this fails (Redis down), the sweep enqueues those rows when it runs.
    """
    now: dt.datetime = ctx["clock"]()
    try:
        async with ctx["sessionmaker"]() as session:
            rows = [r for r in (await session.execute(
                select(OutboundMessage).where(OutboundMessage.id.in_(sorted(outbound_ids)))
            )).scalars() if r.status != OutboundState.QUEUED]
            following = await _following(session, rows, now)
    except SQLAlchemyError:
        log.warning("%d settled rows: next rows not looked up; the sweep will send them", len(outbound_ids))
        return
    for outbound_id, nxt in following.items():
        await _enqueue_following(ctx, outbound_id, nxt, now)


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


async def _release(ctx: dict[str, Any], outbound_ids: Sequence[int], *, delay_s: float) -> None:
    """Give leased rows back, due again in `delay_s` (best effort: the lease expires anyway)."""
    now: dt.datetime = ctx["clock"]()
    try:
        async with ctx["sessionmaker"]() as session, session.begin():
            await session.execute(
                update(OutboundMessage)
                .where(OutboundMessage.id.in_(sorted(outbound_ids)), OutboundMessage.status == OutboundState.QUEUED)
                .values(lease_until=None, due_at=now + dt.timedelta(seconds=delay_s)))
    except Exception:  # noqa: BLE001 - the lease runs out on its own
        log.warning("%d outbound rows: lease not released", len(outbound_ids))


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


async def _on_send_error(ctx: dict[str, Any], outbound_id: int, channel: Channel, exc: SendError) -> Outcome:
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
) -> Outcome:
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
    return Deferred(delay, counted=True)
