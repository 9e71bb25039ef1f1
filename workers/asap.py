"""The ASAP list: a freed slot cascades down the matching waitlist entries.

When a slot frees (cancel, reschedule, expired hold) `on_slot_freed` records it and
`advance` runs the first round: the system holds the slot (a hold under the
organization's system patient, lasting one claim window) and offers it to the first
`asap_batch` matching entries, oldest first (same doctor, or same specialty, at that
branch; an appointment type that fits the gap; inside their earliest/latest). The first
to accept gets it — patients moving from an existing booking keep its id (reschedule),
others get a new booking that goes through the normal confirm / pay step — and the rest
are told it is gone. When the window closes with no taker, the next round goes out.
Quiet hours hold the cascade until the morning.

Every step is claimed in the database (a conditional update of the slot's round or
status), so an arq job and the cron sweep running the same step at once do it once.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.booking import models as bm
from bot.booking.errors import BookingError
from bot.booking.service import BookingService
from bot.booking.types import Actor, AppointmentStatus, AppointmentView
from bot.i18n import translator_for
from bot.messages import Channel, PaymentRequest, Reply, Text
from bot.outbox.api import enqueue_sends, queue_message
from workers.contact import contact_for
from workers.deps import Deps, deps_from_ctx
from workers.models import AsapOffer, AsapSlot
from workers.policy import branch_policy
from workers.timing import allowed_now

log = logging.getLogger(__name__)

ADVANCE_JOB = "asap_advance"
SYSTEM_RELATION = "system"          # the organization's system patient holds slots on offer
# Slots starting sooner than this are not worth offering.
MIN_NOTICE = dt.timedelta(minutes=30)
_PAYLOAD = re.compile(r"^asap_offer:(accept|decline):OF(\d+)$")


@dataclass(frozen=True, slots=True)
class OfferResult:
    """What `accept_offer` / `decline_offer` did (also returned through `handle_reminder_reply`)."""

    handled: bool
    action: str | None = None          # accept | decline | gone
    appointment_id: int | None = None  # the booking the accepted offer produced / moved
    start_flow: str | None = None
    replies: tuple[Reply, ...] = ()


# --- freeing and advancing ----------------------------------------------------------------


async def on_slot_freed(
    session: AsyncSession, *, org_id: int, doctor_id: int, branch_id: int, appointment_type_id: int,
    start: dt.datetime, end: dt.datetime, timezone: str, source_event_id: int, now: dt.datetime,
) -> int | None:
    """Record a freed slot in the caller's transaction (once per event); returns its id.
    Call `advance` for it after the commit."""
    if start <= now + MIN_NOTICE:
        return None
    existing = await session.scalar(select(AsapSlot.id).where(AsapSlot.source_event_id == source_event_id))
    if existing is not None:
        return int(existing)
    slot = AsapSlot(org_id=org_id, source_event_id=source_event_id, doctor_id=doctor_id, branch_id=branch_id,
                    start=start, end=end, timezone=timezone, appointment_type_id=appointment_type_id,
                    status="open", round=0, window_ends_at=None, created_at=now)
    session.add(slot)
    await session.flush()
    return slot.id


@dataclass(frozen=True, slots=True)
class _Candidate:
    waitlist_id: int
    patient_id: int
    appointment_type_id: int


async def _candidates(session: AsyncSession, slot: AsapSlot, limit: int) -> list[_Candidate]:
    """Matching active entries not yet offered this slot, first come first served."""
    specialties = list(await session.scalars(select(bm.DoctorSpecialty.specialty).where(
        bm.DoctorSpecialty.doctor_id == slot.doctor_id)))
    offered = select(AsapOffer.waitlist_id).where(AsapOffer.slot_id == slot.id)
    who = or_(bm.WaitlistEntry.doctor_id == slot.doctor_id,
              and_(bm.WaitlistEntry.doctor_id.is_(None), bm.WaitlistEntry.specialty.in_(specialties)))
    rows = (await session.scalars(
        select(bm.WaitlistEntry).where(
            bm.WaitlistEntry.org_id == slot.org_id, bm.WaitlistEntry.status == "active", who,
            or_(bm.WaitlistEntry.branch_id.is_(None), bm.WaitlistEntry.branch_id == slot.branch_id),
            or_(bm.WaitlistEntry.earliest.is_(None), bm.WaitlistEntry.earliest <= slot.start),
            or_(bm.WaitlistEntry.latest.is_(None), bm.WaitlistEntry.latest >= slot.start),
            bm.WaitlistEntry.id.not_in(offered),
        ).order_by(bm.WaitlistEntry.created_at, bm.WaitlistEntry.id).limit(limit * 5)
    )).all()
    gap = slot.end - slot.start
    slot_type = await session.get(bm.AppointmentType, slot.appointment_type_id)
    busy_patients = set(await session.scalars(select(AsapOffer.patient_id).where(AsapOffer.status == "offered")))
    out: list[_Candidate] = []
    for entry in rows:
        if entry.patient_id in busy_patients:
            continue  # one open offer per patient at a time
        type_id = slot.appointment_type_id
        if entry.appointment_id is not None:
            current = await session.get(bm.Appointment, entry.appointment_id)
            if (current is None or current.status not in (AppointmentStatus.CONFIRMED.value,
                                                           AppointmentStatus.PENDING_PAYMENT.value)
                    or current.start_at <= slot.start):
                continue  # nothing to move, or this slot is not earlier
            if current.end_at - current.start_at > gap:
                continue  # their visit does not fit the gap
            if current.doctor_id != slot.doctor_id:
                continue  # a move keeps the visit type, which belongs to its doctor
            type_id = current.appointment_type_id
        elif slot_type is None or dt.timedelta(minutes=slot_type.duration_min) > gap:
            continue
        out.append(_Candidate(entry.id, entry.patient_id, type_id))
        busy_patients.add(entry.patient_id)
        if len(out) >= limit:
            break
    return out


async def system_patient_id(sessionmaker: async_sessionmaker[AsyncSession], org_id: int) -> int:
    """The organization's system patient (no phone, never messaged), created on first use."""
    async with sessionmaker() as session, session.begin():
        found = await session.scalar(select(bm.Patient.id).where(
            bm.Patient.org_id == org_id, bm.Patient.relation == SYSTEM_RELATION).order_by(bm.Patient.id).limit(1))
        if found is not None:
            return int(found)
        row = bm.Patient(org_id=org_id, name=None, relation=SYSTEM_RELATION)
        session.add(row)
        await session.flush()
        return row.id


async def advance(deps: Deps, slot_id: int) -> str:
    """Run the next step of a slot's cascade if it is due; returns what happened."""
    now = deps.now()
    async with deps.sessionmaker() as session:
        slot = await session.get(AsapSlot, slot_id)
        if slot is None or slot.status not in ("open", "waiting"):
            return "noop"
        if slot.window_ends_at is not None and slot.window_ends_at > now:
            return "window_open"
        policy = await branch_policy(session, slot.branch_id)
        candidates = await _candidates(session, slot, policy.asap_batch)
        round_ = slot.round
        hold_id = slot.hold_appointment_id
    if slot.start <= now + MIN_NOTICE or not candidates:
        await _close(deps, slot_id, round_, "exhausted", hold_id, now)
        return "exhausted"
    morning = allowed_now(now, slot.timezone, policy.quiet)
    if morning > now:
        async with deps.sessionmaker() as session, session.begin():
            await session.execute(update(AsapSlot).where(AsapSlot.id == slot_id, AsapSlot.round == round_)
                                  .values(status="waiting", window_ends_at=morning))
        await _defer_advance(deps, slot_id, round_, morning, now)
        return "quiet_hours"
    # Claim the step: only one caller moves the round on.
    window_end = now + policy.asap_window
    async with deps.sessionmaker() as session, session.begin():
        claimed = await session.execute(
            update(AsapSlot).where(AsapSlot.id == slot_id, AsapSlot.round == round_,
                                   AsapSlot.status.in_(("open", "waiting")))
            .values(round=round_ + 1, status="open", window_ends_at=window_end))
        if claimed.rowcount != 1:
            return "raced"
        # Whoever did not answer last round goes back to waiting for the next slot.
        stale = list(await session.scalars(select(AsapOffer).where(
            AsapOffer.slot_id == slot_id, AsapOffer.status == "offered")))
        for offer in stale:
            offer.status, offer.answered_at = "expired", now
        await _reactivate(session, [o.waitlist_id for o in stale], now)
    # Hold the slot for the window (a fresh hold each round: holds cannot be extended).
    new_hold = await _hold_slot(deps, slot, policy.asap_window, hold_id)
    if new_hold is None:
        await _close(deps, slot_id, round_ + 1, "lost", None, now)
        return "lost"
    outbound: list[int] = []
    async with deps.sessionmaker() as session, session.begin():
        row = await session.get(AsapSlot, slot_id)
        assert row is not None
        row.hold_appointment_id = new_hold
        for cand in candidates:
            offer = AsapOffer(slot_id=slot_id, waitlist_id=cand.waitlist_id, patient_id=cand.patient_id,
                              appointment_type_id=cand.appointment_type_id, round=round_ + 1, status="offered",
                              offered_at=now, expires_at=window_end)
            session.add(offer)
            await session.flush()
            entry = await session.get(bm.WaitlistEntry, cand.waitlist_id)
            if entry is not None:
                entry.status, entry.updated_at = "offered", now
            sent = await _queue_offer(session, deps, row, offer, policy.asap_window, now)
            if sent is not None:
                outbound.append(sent)
    if outbound and deps.arq is not None:
        await enqueue_sends(deps.arq, outbound)
    await _defer_advance(deps, slot_id, round_ + 1, window_end, now)
    log.info("asap slot %s round %s: %d offers", slot_id, round_ + 1, len(candidates))
    return "offered"


async def _reactivate(session: AsyncSession, waitlist_ids: list[int], now: dt.datetime) -> None:
    if waitlist_ids:
        await session.execute(update(bm.WaitlistEntry).where(
            bm.WaitlistEntry.id.in_(waitlist_ids), bm.WaitlistEntry.status == "offered")
            .values(status="active", updated_at=now))


async def _hold_slot(deps: Deps, slot: AsapSlot, window: dt.timedelta, old_hold: int | None) -> int | None:
    """Hold the slot under the system patient for one window; None when it was taken."""
    await _release_hold(deps, old_hold)
    holder = BookingService(deps.sessionmaker, clock=deps.clock,
                            hold_minutes=max(int(window.total_seconds() // 60), 1), max_live_holds=1_000_000)
    patient_id = await system_patient_id(deps.sessionmaker, slot.org_id)
    try:
        held = await holder.hold(slot.org_id, patient_id=patient_id, doctor_id=slot.doctor_id,
                                 branch_id=slot.branch_id, appointment_type_id=slot.appointment_type_id,
                                 start=slot.start, actor=Actor.SYSTEM, channel=None)
    except BookingError as exc:
        log.info("asap slot %s could not be held: %s", slot.id, exc.code)
        return None
    return held.id


async def _release_hold(deps: Deps, hold_id: int | None) -> None:
    if hold_id is None:
        return
    try:
        await deps.booking.cancel(hold_id, reason="asap hold released", actor=Actor.SYSTEM)
    except BookingError:
        pass  # already expired or cancelled: the slot is free either way


async def _close(deps: Deps, slot_id: int, round_: int, status: str, hold_id: int | None, now: dt.datetime) -> None:
    async with deps.sessionmaker() as session, session.begin():
        done = await session.execute(update(AsapSlot).where(
            AsapSlot.id == slot_id, AsapSlot.round == round_, AsapSlot.status.in_(("open", "waiting")))
            .values(status=status, window_ends_at=None))
        if done.rowcount != 1:
            return
        stale = list(await session.scalars(select(AsapOffer).where(
            AsapOffer.slot_id == slot_id, AsapOffer.status == "offered")))
        for offer in stale:
            offer.status, offer.answered_at = "expired", now
        await _reactivate(session, [o.waitlist_id for o in stale], now)
    await _release_hold(deps, hold_id)


async def _defer_advance(deps: Deps, slot_id: int, round_: int, at: dt.datetime, now: dt.datetime) -> None:
    if deps.arq is None:
        return
    delay = max((at - now).total_seconds(), 0.0)
    await deps.arq.enqueue_job(ADVANCE_JOB, slot_id, _job_id=f"asap:{slot_id}:r{round_}",
                               _defer_by=delay if delay > 0 else None)


async def _queue_offer(session: AsyncSession, deps: Deps, slot: AsapSlot, offer: AsapOffer,
                       window: dt.timedelta, now: dt.datetime) -> int | None:
    branch = await session.get(bm.Branch, slot.branch_id)
    doctor = await session.get(bm.Doctor, slot.doctor_id)
    contact = await contact_for(session, offer.patient_id, default_language=branch.language if branch else "en")
    if contact is None or branch is None or doctor is None:
        return None
    offer.channel, offer.recipient = str(contact.channel), contact.recipient
    template = deps.templates.build(
        "asap_offer", contact.language,
        {"patient_first_name": contact.first_name or "-",
         "doctor_name": f"{doctor.title} {doctor.first_name} {doctor.last_name}".strip(),
         "clinic_name": branch.name, "start": slot.start, "offer_minutes": int(window.total_seconds() // 60),
         "appointment_code": f"OF{offer.id}"},
        timezone=slot.timezone, country=branch.country)
    return await queue_message(
        session, org_id=slot.org_id, channel=contact.channel, recipient=contact.recipient, reply=template,
        purpose="asap_offer", idempotency_key=f"asap_offer:{offer.id}", patient_id=offer.patient_id, now=now)


# --- jobs ----------------------------------------------------------------------------------


async def asap_advance(ctx: dict[str, Any], slot_id: int) -> str:
    """arq job: the next step of one slot's cascade (deferred to its window's end)."""
    return await advance(deps_from_ctx(ctx), slot_id)


async def sweep_asap(ctx: dict[str, Any]) -> int:
    """arq cron: advance every cascade whose window has closed (safety net for the job)."""
    deps = deps_from_ctx(ctx)
    now = deps.now()
    async with deps.sessionmaker() as session:
        ids = list(await session.scalars(select(AsapSlot.id).where(
            AsapSlot.status.in_(("open", "waiting")),
            or_(AsapSlot.window_ends_at.is_(None), AsapSlot.window_ends_at <= now)).limit(500)))
    for slot_id in ids:
        await advance(deps, slot_id)
    return len(ids)


# --- answers ---------------------------------------------------------------------------------


async def accept_offer(
    deps: Deps, *, offer_id: int, channel: Channel | str, user_id: str, payments: Any | None = None,
) -> OfferResult:
    """The patient takes an offered slot. The first accept wins: a mover's booking is
    rescheduled (same id), anyone else gets a new booking confirmed through the normal
    step (a payment request when the type needs prepayment); the other offers are told
    the slot is gone. `payments` is a `flows.ports.PaymentPort` for the prepay link."""
    now = deps.now()
    async with deps.sessionmaker() as session, session.begin():
        offer = await session.scalar(select(AsapOffer).where(AsapOffer.id == offer_id).with_for_update())
        if offer is None or offer.recipient != user_id or offer.channel != str(channel):
            return OfferResult(handled=False)
        slot = await session.get(AsapSlot, offer.slot_id)
        assert slot is not None
        branch = await session.get(bm.Branch, slot.branch_id)
        language = (await session.get(bm.Patient, offer.patient_id)).language  # type: ignore[union-attr]
        t = translator_for(language, timezone=slot.timezone, country=branch.country if branch else "IN")
        if offer.status != "offered" or offer.expires_at <= now:
            return OfferResult(handled=True, action="gone", replies=(Text(t(
                "Sorry, that time is no longer available. We will keep looking for an earlier time for you.")),))
        won = await session.execute(update(AsapSlot).where(AsapSlot.id == slot.id, AsapSlot.status == "open")
                                    .values(status="claimed"))
        if won.rowcount != 1:
            offer.status, offer.answered_at = "gone", now
            return OfferResult(handled=True, action="gone", replies=(Text(t(
                "Sorry, someone else has just taken that time. We will keep looking for you.")),))
        offer.status, offer.answered_at = "accepted", now
        entry = await session.get(bm.WaitlistEntry, offer.waitlist_id)
        moving_from = entry.appointment_id if entry else None
        hold_id = slot.hold_appointment_id
        slot_snapshot = (slot.org_id, slot.doctor_id, slot.branch_id, slot.start)
    org_id, doctor_id, branch_id, start = slot_snapshot
    replies: list[Reply] = []
    try:
        # The system's hold makes way for the winner's booking in the booking's own
        # transaction: no moment in which a chat booking could slip in between.
        if moving_from is not None:
            booked = await deps.booking.reschedule(moving_from, start=start, actor=Actor.SYSTEM,
                                                   channel=str(channel), replacing_hold=hold_id)
        else:
            held = await deps.booking.hold(org_id, patient_id=offer.patient_id, doctor_id=doctor_id,
                                           branch_id=branch_id, appointment_type_id=offer.appointment_type_id,
                                           start=start, actor=Actor.PATIENT, channel=str(channel),
                                           replacing_hold=hold_id)
            booked = await deps.booking.confirm(held.id, actor=Actor.PATIENT, channel=str(channel))
    except BookingError as exc:
        log.info("asap offer %s could not be booked: %s", offer_id, exc.code)
        await _release_hold(deps, hold_id)  # nobody claimed it after all: the slot is free again
        async with deps.sessionmaker() as session, session.begin():
            await session.execute(update(AsapOffer).where(AsapOffer.id == offer_id).values(status="gone"))
            await session.execute(update(AsapSlot).where(AsapSlot.id == offer.slot_id).values(status="lost"))
        return OfferResult(handled=True, action="gone", replies=(Text(t(
            "Sorry, that time was just taken. We will keep looking for an earlier time for you.")),))
    outbound = await _finish_claim(deps, offer_id=offer_id, slot_id=offer.slot_id, booked=booked, now=now)
    if outbound and deps.arq is not None:
        await enqueue_sends(deps.arq, outbound)
    when = t.datetime(booked.start)
    if booked.status == AppointmentStatus.PENDING_PAYMENT and payments is not None:
        url, reference = await payments.payment_link(booked)
        replies.append(PaymentRequest(
            body=t("The time is yours: {when} with {doctor}. Please pay {amount} to confirm it.",
                   when=when, doctor=booked.doctor_name, amount=t.money(booked.prepay_minor, booked.currency)),
            amount_minor=booked.prepay_minor, currency=booked.currency, reference=reference, url=url))
    else:
        replies.append(Text(t("Done: your appointment with {doctor} is now on {when} (booking {code}).",
                              doctor=booked.doctor_name, when=when, code=booked.code)))
    return OfferResult(handled=True, action="accept", appointment_id=booked.id, replies=tuple(replies))


async def _finish_claim(deps: Deps, *, offer_id: int, slot_id: int, booked: AppointmentView,
                        now: dt.datetime) -> list[int]:
    """Record the winner and tell the others the slot is gone; returns outbound ids."""
    outbound: list[int] = []
    async with deps.sessionmaker() as session, session.begin():
        offer = await session.get(AsapOffer, offer_id)
        slot = await session.get(AsapSlot, slot_id)
        assert offer is not None and slot is not None
        offer.appointment_id = booked.id
        slot.claimed_appointment_id, slot.window_ends_at = booked.id, None
        entry = await session.get(bm.WaitlistEntry, offer.waitlist_id)
        if entry is not None:
            entry.status, entry.updated_at = "fulfilled", now
        others = list(await session.scalars(select(AsapOffer).where(
            AsapOffer.slot_id == slot_id, AsapOffer.status == "offered", AsapOffer.id != offer_id)))
        for other in others:
            other.status, other.answered_at = "gone", now
        await _reactivate(session, [o.waitlist_id for o in others], now)
        branch = await session.get(bm.Branch, slot.branch_id)
        doctor = await session.get(bm.Doctor, slot.doctor_id)
        doctor_name = (f"{doctor.title} {doctor.first_name} {doctor.last_name}".strip() if doctor else "-")
        for other in others:
            if other.channel is None or other.recipient is None:
                continue
            patient = await session.get(bm.Patient, other.patient_id)
            t = deps.translator(patient.language if patient else None, timezone=slot.timezone,
                                country=branch.country if branch else "IN")
            text = Text(t("Sorry, the earlier time on {when} has been taken. You are still on the list and "
                          "keep your current booking.", when=t.datetime(slot.start)))
            outbound.append(await queue_message(
                session, org_id=slot.org_id, channel=Channel(other.channel), recipient=other.recipient,
                reply=text, purpose="asap_offer", idempotency_key=f"asap_gone:{other.id}",
                fallback=deps.templates.build(
                    "asap_slot_gone", patient.language if patient else "en",
                    {"patient_first_name": (patient.name if patient else None) or "-",
                     "doctor_name": doctor_name, "clinic_name": branch.name if branch else "-",
                     "start": slot.start},
                    timezone=slot.timezone, country=branch.country if branch else "IN"),
                patient_id=other.patient_id, now=now))
    return outbound


async def decline_offer(deps: Deps, *, offer_id: int, channel: Channel | str, user_id: str) -> OfferResult:
    """The patient keeps their time: the offer closes (they stay on the list); when every
    offer of the round is answered, the cascade moves on at once."""
    now = deps.now()
    async with deps.sessionmaker() as session, session.begin():
        offer = await session.scalar(select(AsapOffer).where(AsapOffer.id == offer_id).with_for_update())
        if offer is None or offer.recipient != user_id or offer.channel != str(channel):
            return OfferResult(handled=False)
        slot = await session.get(AsapSlot, offer.slot_id)
        patient = await session.get(bm.Patient, offer.patient_id)
        assert slot is not None
        t = translator_for(patient.language if patient else None, timezone=slot.timezone)
        if offer.status == "offered":
            offer.status, offer.answered_at = "declined", now
            entry = await session.get(bm.WaitlistEntry, offer.waitlist_id)
            if entry is not None and entry.status == "offered":
                # Declining one time is not leaving the list.
                entry.status, entry.updated_at = "active", now
        open_left = await session.scalar(select(AsapOffer.id).where(
            AsapOffer.slot_id == slot.id, AsapOffer.status == "offered").limit(1))
        slot_id, round_ = slot.id, slot.round
        if open_left is None and slot.status == "open":
            slot.window_ends_at = now  # nobody left to wait for
    if open_left is None:
        await advance(deps, slot_id)
    del round_
    return OfferResult(handled=True, action="decline", replies=(Text(t(
        "No problem, you keep your current time. We will let you know if something else opens up.")),))


async def handle_offer_reply(
    booking: Any, sessionmaker: async_sessionmaker[AsyncSession], *, org_id: int, channel: Channel, user_id: str,
    text_or_choice: str, now: dt.datetime, deps: Deps | None = None, payments: Any | None = None,
) -> OfferResult:
    """An offer's button (`asap_offer:accept:OF12`) or, while an offer to this address is
    open, "1" (take it) / "2" (keep my time)."""
    raw = text_or_choice.strip()
    match = _PAYLOAD.match(raw)
    offer_id: int | None = None
    action: str | None = None
    if match:
        action, offer_id = match.group(1), int(match.group(2))
    elif raw in ("1", "2"):
        async with sessionmaker() as session:
            offer_id = await session.scalar(select(AsapOffer.id).join(AsapSlot, AsapSlot.id == AsapOffer.slot_id)
                                            .where(AsapSlot.org_id == org_id, AsapOffer.channel == str(channel),
                                                   AsapOffer.recipient == user_id, AsapOffer.status == "offered",
                                                   AsapOffer.expires_at > now)
                                            .order_by(AsapOffer.id.desc()).limit(1))
        action = "accept" if raw == "1" else "decline"
    if offer_id is None or action is None:
        return OfferResult(handled=False)
    if deps is None:
        deps = Deps(settings=None, sessionmaker=sessionmaker, booking=booking, arq=None,  # type: ignore[arg-type]
                    clock=lambda: now)
    if action == "accept":
        return await accept_offer(deps, offer_id=offer_id, channel=channel, user_id=user_id, payments=payments)
    return await decline_offer(deps, offer_id=offer_id, channel=channel, user_id=user_id)
