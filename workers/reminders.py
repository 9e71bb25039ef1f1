"""Appointment reminders: the message itself, and what a patient's reply to one does.

Scheduling lives in `workers.scheduled` (rows, job ids, sweep). Here:
- `compose_reminder`: the approved `appointment_reminder` template (WhatsApp quick
  replies Confirm / Reschedule / Cancel whose payload carries the booking code; the DLT
  SMS text says "Reply 1 to confirm, 2 to reschedule, 3 to cancel").
- `handle_reminder_reply`: called by the dispatcher for an inbound that may answer a
  reminder (or an ASAP offer), days later and with no open conversation. It resolves
  the appointment (button payload, WhatsApp context id, or the reminders this address
  was sent), asks "which one?" when one phone holds several reminded appointments
  (dependents), acts, and puts anything it cannot understand on the staff list.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any

from arq.connections import ArqRedis
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.booking import models as bm
from bot.booking.errors import BookingError, OutsidePolicy
from bot.booking.identity import normalize_code
from bot.booking.types import Actor, AppointmentStatus, AppointmentView
from bot.db import utcnow
from bot.i18n import translator_for
from bot.messages import Channel, Choices, Option, Reply, Text
from bot.outbox.models import OutboundMessage
from bot.outbox.upsert import insert_for
from workers.contact import Contact
from workers.deps import Deps
from workers.models import AttendanceConfirmation, ReminderQuestion, ScheduledSend, StaffAction
from workers.scheduled import REMINDER, Composed, load_views

log = logging.getLogger(__name__)

# How long after a reminder a bare "1"/"2"/"3" still counts as an answer to it.
REPLY_HORIZON = dt.timedelta(days=7)
QUESTION_TTL = dt.timedelta(hours=24)

CONFIRM, RESCHEDULE, CANCEL = "confirm", "reschedule", "cancel"
_DIGIT_ACTIONS = {"1": CONFIRM, "2": RESCHEDULE, "3": CANCEL}
_WORD_ACTIONS = {
    "confirm": CONFIRM, "yes": CONFIRM, "ok": CONFIRM, "okay": CONFIRM, "haan": CONFIRM, "ha": CONFIRM,
    "reschedule": RESCHEDULE, "change": RESCHEDULE, "move": RESCHEDULE,
    # "cancel" typed as a whole SMS is a carrier opt-out word and never reaches us as an
    # action; on WhatsApp it is an ordinary word.
    "cancel": CANCEL,
    # Hindi (Devanagari and the common Latin spellings).
    "हाँ": CONFIRM, "हां": CONFIRM, "जी": CONFIRM, "ठीक": CONFIRM, "ठीक है": CONFIRM, "पक्का": CONFIRM,
    "कन्फर्म": CONFIRM, "theek": CONFIRM, "theek hai": CONFIRM, "pakka": CONFIRM,
    "बदलें": RESCHEDULE, "बदलो": RESCHEDULE, "बदल": RESCHEDULE, "बदलना": RESCHEDULE, "समय बदलें": RESCHEDULE,
    "badlo": RESCHEDULE, "badlen": RESCHEDULE, "badle": RESCHEDULE,
    "रद्द": CANCEL, "रद्द करें": CANCEL, "रद्द करो": CANCEL, "कैंसल": CANCEL, "कैंसिल": CANCEL, "radd": CANCEL,
    # Tamil (script and Latin spellings).
    "ஆம்": CONFIRM, "சரி": CONFIRM, "உறுதி": CONFIRM, "உறுதிசெய்": CONFIRM, "aam": CONFIRM, "aamam": CONFIRM,
    "sari": CONFIRM, "seri": CONFIRM,
    "மாற்று": RESCHEDULE, "மாற்றவும்": RESCHEDULE, "மாற்றம்": RESCHEDULE, "நேரம் மாற்று": RESCHEDULE,
    "maatru": RESCHEDULE, "matru": RESCHEDULE, "maatravum": RESCHEDULE,
    "ரத்து": CANCEL, "ரத்து செய்": CANCEL, "ரத்து செய்யவும்": CANCEL, "rathu": CANCEL, "rattu": CANCEL,
}
_PAYLOAD = re.compile(r"^appointment_reminder:(confirm|reschedule|cancel):([A-Za-z0-9-]+)$")
_QUESTION_CHOICE = re.compile(r"^reminder_q:(\d+):(\d+)$")


async def compose_reminder(
    session: AsyncSession, deps: Deps, row: ScheduledSend, appt: AppointmentView, contact: Contact,
) -> Composed:
    """The reminder template for `appt` in the patient's language (minimum data only)."""
    branch = await session.get(bm.Branch, appt.branch_id)
    template = deps.templates.build(
        "appointment_reminder", contact.language,
        {"patient_first_name": contact.first_name or "-", "doctor_name": appt.doctor_name,
         "clinic_name": appt.branch_name, "start": appt.start, "appointment_code": appt.code},
        timezone=appt.timezone, country=branch.country if branch else "IN",
    )
    return Composed(template, purpose="reminder")


# --- replies -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReminderReplyResult:
    """What `handle_reminder_reply` did.

    handled: False means "not a reply to a reminder or offer" — the dispatcher carries on
        with its normal conversation; nothing was written.
    action: confirm | reschedule | cancel | ask (which appointment?) | to_action (staff list)
        | accept / decline (an ASAP offer) | gone (offer no longer available)
    start_flow: "reschedule" when the dispatcher should open the reschedule conversation
        for `appointment_id` (the replies then only acknowledge).
    replies: what to send back (hand them to the outbox as usual).
    """

    handled: bool
    action: str | None = None
    appointment_id: int | None = None
    start_flow: str | None = None
    replies: tuple[Reply, ...] = field(default_factory=tuple)


NOT_HANDLED = ReminderReplyResult(handled=False)


def parse_action(text: str) -> str | None:
    """'1' / 'confirm' / 'Reschedule' … → the action (None when it is not one)."""
    # NFC so a decomposed Devanagari/Tamil vowel sign typed by some keyboards still matches;
    # "।" is the Devanagari full stop.
    word = " ".join(unicodedata.normalize("NFC", text).strip().strip(".!।").lower().split())
    return _DIGIT_ACTIONS.get(word) or _WORD_ACTIONS.get(word)


async def handle_reminder_reply(
    booking: Any,
    sessionmaker: async_sessionmaker[AsyncSession],
    *,
    org_id: int,
    channel: Channel | str,
    user_id: str,
    text_or_choice: str,
    context_message_id: str | None = None,
    now: dt.datetime | None = None,
    arq: ArqRedis | None = None,
    payments: Any | None = None,
) -> ReminderReplyResult:
    """Act on a reply to a reminder or an ASAP offer; see `ReminderReplyResult`.

    `text_or_choice` is the choice id (button payload / list row id) when the inbound is a
    choice, else its text. `user_id` is the sender's address as the reminder was sent to it
    (WhatsApp BSUID / wa_id, or the E.164 number on SMS). `arq` lets messages to other
    patients (an ASAP slot taken) go at once instead of at the next outbox sweep;
    `payments` (a `PaymentPort`) makes the payment link when an accepted offer needs one.
    """
    from workers import asap, holds  # noqa: PLC0415 - kept out of this module's import graph

    channel = Channel(str(channel))
    now = now or utcnow()
    raw = (text_or_choice or "").strip()

    # 1. A WhatsApp quick reply carries the booking code.
    match = _PAYLOAD.match(raw)
    if match:
        action, code = match.group(1), match.group(2)
        appt_id = await _reminded_by_code(sessionmaker, org_id, channel, user_id, code)
        if appt_id is None:
            return NOT_HANDLED
        return await _act(booking, sessionmaker, action, appt_id, org_id=org_id, channel=channel,
                          user_id=user_id, now=now)

    # 2. A new time picked from the "needs rescheduling" message (on SMS: by its number).
    raw = await holds.sms_pick(sessionmaker, channel=channel, user_id=user_id, text=raw) or raw
    picked = await holds.handle_pick(booking, sessionmaker, channel=channel, user_id=user_id, choice=raw)
    if picked is not None:
        return ReminderReplyResult(handled=True, action=RESCHEDULE, appointment_id=picked[0], replies=picked[1])
    if raw == holds.OTHER_TIMES or raw.startswith(holds.OTHER_TIMES + ":"):
        other = await holds.other_times_appointment(sessionmaker, channel=channel, user_id=user_id, choice=raw)
        return ReminderReplyResult(handled=True, action=RESCHEDULE, appointment_id=other, start_flow="reschedule")

    # 3. ASAP offers: their buttons, or a digit while an offer is open for this address.
    deps = Deps(settings=None, sessionmaker=sessionmaker, booking=booking, arq=arq,  # type: ignore[arg-type]
                clock=lambda: now)
    offer = await asap.handle_offer_reply(
        booking, sessionmaker, org_id=org_id, channel=channel, user_id=user_id, text_or_choice=raw, now=now,
        deps=deps, payments=payments)
    if offer.handled:
        return ReminderReplyResult(handled=True, action=offer.action, appointment_id=offer.appointment_id,
                                   start_flow=offer.start_flow, replies=offer.replies)

    # 4. The answer to an open "which appointment?" question.
    answered = await _answer_question(booking, sessionmaker, org_id=org_id, channel=channel, user_id=user_id,
                                      raw=raw, now=now)
    if answered is not None:
        return answered

    # 5. A reply to a reminder we sent (by WhatsApp context id, else recent reminders).
    candidates = await _reminded_recently(sessionmaker, org_id, channel, user_id, now)
    if context_message_id:
        ctx_appt = await _reminded_by_context(sessionmaker, channel, user_id, context_message_id)
        if ctx_appt is not None:
            candidates = [ctx_appt]
        elif not candidates:
            return NOT_HANDLED
    if not candidates:
        return NOT_HANDLED
    action = parse_action(raw)
    if action is None:
        if not context_message_id and not _looks_like_answer(raw):
            # Free text with no reference to a reminder: an ordinary conversation.
            return NOT_HANDLED
        return await _to_action(sessionmaker, org_id=org_id, channel=channel, user_id=user_id, text=raw,
                                appointment_id=candidates[0] if len(candidates) == 1 else None,
                                kind="reminder_reply_unclear", now=now)
    if len(candidates) == 1:
        return await _act(booking, sessionmaker, action, candidates[0], org_id=org_id, channel=channel,
                          user_id=user_id, now=now)
    return await _ask_which(sessionmaker, action, candidates, org_id=org_id, channel=channel, user_id=user_id,
                            now=now)


# Short words that open a conversation rather than answer a reminder.
_GREETINGS = frozenset({"hi", "hello", "hey", "hii", "namaste", "menu", "help", "book", "start", "stop",
                        "thanks", "thank you", "thankyou", "thx", "ty", "dhanyavad"})


def _looks_like_answer(raw: str) -> bool:
    # Short replies right after a reminder ("2?", "4", "yes pls") are answers we did not
    # understand; long messages and greetings are conversations for the dispatcher.
    return len(raw) <= 12 and raw.strip(" .!?").lower() not in _GREETINGS


async def _patient_language(session: AsyncSession, patient_id: int) -> str | None:
    patient = await session.get(bm.Patient, patient_id)
    return patient.language if patient else None


async def _reminded_by_code(
    sessionmaker: async_sessionmaker[AsyncSession], org_id: int, channel: Channel, user_id: str, code: str,
) -> int | None:
    """The appointment with `code` when a reminder for it went to this address."""
    async with sessionmaker() as session:
        appt_id = await session.scalar(select(bm.Appointment.id).where(
            bm.Appointment.org_id == org_id, bm.Appointment.code == normalize_code(code)))
        if appt_id is None:
            return None
        sent = await session.scalar(select(ScheduledSend.id).where(
            ScheduledSend.appointment_id == appt_id, ScheduledSend.kind == REMINDER,
            ScheduledSend.status == "sent", ScheduledSend.channel == str(channel),
            ScheduledSend.recipient == user_id).limit(1))
        return appt_id if sent is not None else None


async def _reminded_by_context(
    sessionmaker: async_sessionmaker[AsyncSession], channel: Channel, user_id: str, message_id: str,
) -> int | None:
    async with sessionmaker() as session:
        return await session.scalar(
            select(ScheduledSend.appointment_id)
            .join(OutboundMessage, OutboundMessage.id == ScheduledSend.outbound_id)
            .where(OutboundMessage.provider_message_id == message_id, ScheduledSend.kind == REMINDER,
                   ScheduledSend.channel == str(channel), ScheduledSend.recipient == user_id)
            .limit(1))


async def _reminded_recently(
    sessionmaker: async_sessionmaker[AsyncSession], org_id: int, channel: Channel, user_id: str, now: dt.datetime,
) -> list[int]:
    """Upcoming, still-booked appointments this address was reminded of lately (soonest first)."""
    async with sessionmaker() as session:
        rows = await session.execute(
            select(bm.Appointment.id, bm.Appointment.start_at)
            .join(ScheduledSend, ScheduledSend.appointment_id == bm.Appointment.id)
            .where(ScheduledSend.org_id == org_id, ScheduledSend.kind == REMINDER, ScheduledSend.status == "sent",
                   ScheduledSend.channel == str(channel), ScheduledSend.recipient == user_id,
                   ScheduledSend.processed_at >= now - REPLY_HORIZON,
                   bm.Appointment.start_at > now,
                   bm.Appointment.status.in_((AppointmentStatus.CONFIRMED.value,
                                              AppointmentStatus.PENDING_PAYMENT.value)))
            .order_by(bm.Appointment.start_at))
        seen: list[int] = []
        for appt_id, _start in rows:
            if appt_id not in seen:
                seen.append(appt_id)
        return seen


async def _ask_which(
    sessionmaker: async_sessionmaker[AsyncSession], action: str, candidates: list[int], *, org_id: int,
    channel: Channel, user_id: str, now: dt.datetime,
) -> ReminderReplyResult:
    async with sessionmaker() as session, session.begin():
        views = {v.id: v for v in await load_views(session, candidates)}
        ordered = [views[i] for i in candidates if i in views][:10]
        # A new question replaces any open one for this address.
        await session.execute(update(ReminderQuestion).where(
            ReminderQuestion.channel == str(channel), ReminderQuestion.user_id == user_id,
            ReminderQuestion.answered_at.is_(None)).values(answered_at=now))
        question = ReminderQuestion(org_id=org_id, channel=str(channel), user_id=user_id, action=action,
                                    candidate_ids=",".join(str(v.id) for v in ordered), created_at=now,
                                    expires_at=now + QUESTION_TTL)
        session.add(question)
        await session.flush()
        first = ordered[0]
        t = translator_for(await _patient_language(session, first.patient_id), timezone=first.timezone)
        options = tuple(
            Option(id=f"reminder_q:{question.id}:{n}",
                   title=_first_name(v.patient_name) or v.code,
                   description=t("{when}, {doctor}", when=t.datetime(v.start), doctor=v.doctor_name))
            for n, v in enumerate(ordered, start=1)
        )
        body = {
            CONFIRM: t("Which appointment are you confirming?"),
            RESCHEDULE: t("Which appointment would you like to change?"),
            CANCEL: t("Which appointment would you like to cancel?"),
        }[action]
    return ReminderReplyResult(handled=True, action="ask",
                               replies=(Choices(body=body, options=options, button=t("Choose")),))


def _first_name(name: str | None) -> str | None:
    return name.split()[0] if name and name.split() else None


async def _answer_question(
    booking: Any, sessionmaker: async_sessionmaker[AsyncSession], *, org_id: int, channel: Channel,
    user_id: str, raw: str, now: dt.datetime,
) -> ReminderReplyResult | None:
    async with sessionmaker() as session:
        question = await session.scalar(
            select(ReminderQuestion).where(
                ReminderQuestion.channel == str(channel), ReminderQuestion.user_id == user_id,
                ReminderQuestion.org_id == org_id, ReminderQuestion.answered_at.is_(None),
                ReminderQuestion.expires_at > now)
            .order_by(ReminderQuestion.id.desc()).limit(1))
    if question is None:
        return None
    ids = [int(x) for x in question.candidate_ids.split(",") if x]
    pick: int | None = None
    chosen = _QUESTION_CHOICE.match(raw)
    if chosen and int(chosen.group(1)) == question.id:
        pick = int(chosen.group(2))
    elif raw.strip().isdigit():
        pick = int(raw.strip())
    if pick is None or not 1 <= pick <= len(ids):
        return await _to_action(sessionmaker, org_id=org_id, channel=channel, user_id=user_id, text=raw,
                                appointment_id=None, kind="reminder_reply_unclear", now=now,
                                close_question=question.id)
    async with sessionmaker() as session, session.begin():
        await session.execute(update(ReminderQuestion).where(ReminderQuestion.id == question.id)
                              .values(answered_at=now))
    return await _act(booking, sessionmaker, question.action, ids[pick - 1], org_id=org_id, channel=channel,
                      user_id=user_id, now=now)


async def _act(
    booking: Any, sessionmaker: async_sessionmaker[AsyncSession], action: str, appointment_id: int, *,
    org_id: int, channel: Channel, user_id: str, now: dt.datetime,
) -> ReminderReplyResult:
    appt: AppointmentView = await booking.get_appointment(appointment_id)
    async with sessionmaker() as session:
        t = translator_for(await _patient_language(session, appt.patient_id), timezone=appt.timezone)
    when = t.datetime(appt.start)
    if appt.status not in (AppointmentStatus.CONFIRMED, AppointmentStatus.PENDING_PAYMENT) or appt.start <= now:
        return ReminderReplyResult(
            handled=True, action=action, appointment_id=appt.id,
            replies=(Text(t("Booking {code} is no longer active, so there is nothing to change.", code=appt.code)),))
    if action == CONFIRM:
        async with sessionmaker() as session, session.begin():
            stmt = insert_for(session, AttendanceConfirmation).values(
                appointment_id=appt.id, appointment_version=appt.version, channel=str(channel), confirmed_at=now)
            await session.execute(stmt.on_conflict_do_update(
                index_elements=["appointment_id"],
                set_={"appointment_version": appt.version, "confirmed_at": now, "channel": str(channel)}))
        return ReminderReplyResult(
            handled=True, action=CONFIRM, appointment_id=appt.id,
            replies=(Text(t("Thank you, {name}. See you on {when} with {doctor}.",
                            name=_first_name(appt.patient_name) or "", when=when, doctor=appt.doctor_name)),))
    if action == RESCHEDULE:
        return ReminderReplyResult(handled=True, action=RESCHEDULE, appointment_id=appt.id, start_flow="reschedule")
    try:
        await booking.cancel(appt.id, reason="patient replied to reminder", actor=Actor.PATIENT,
                             channel=str(channel))
    except OutsidePolicy:
        result = await _to_action(sessionmaker, org_id=org_id, channel=channel, user_id=user_id,
                                  text=None, appointment_id=appt.id, kind="cancel_refused", now=now, reply=False)
        return ReminderReplyResult(
            handled=True, action="to_action", appointment_id=appt.id,
            replies=(Text(t("It is too close to your appointment to cancel it here. "
                            "We have asked the clinic team to contact you.")),) + result.replies)
    except BookingError as exc:
        log.info("reminder cancel of appointment %s refused: %s", appt.id, exc.code)
        return ReminderReplyResult(
            handled=True, action=CANCEL, appointment_id=appt.id,
            replies=(Text(t("Sorry, booking {code} could not be cancelled.", code=appt.code)),))
    return ReminderReplyResult(
        handled=True, action=CANCEL, appointment_id=appt.id,
        replies=(Text(t("Your appointment on {when} with {doctor} is cancelled (booking {code}).",
                        when=when, doctor=appt.doctor_name, code=appt.code)),))


async def _to_action(
    sessionmaker: async_sessionmaker[AsyncSession], *, org_id: int, channel: Channel, user_id: str,
    text: str | None, appointment_id: int | None, kind: str, now: dt.datetime,
    close_question: int | None = None, reply: bool = True,
) -> ReminderReplyResult:
    """Put a message the bot cannot act on in the staff "to action" list."""
    async with sessionmaker() as session, session.begin():
        patient_id = None
        if appointment_id is not None:
            patient_id = await session.scalar(select(bm.Appointment.patient_id).where(
                bm.Appointment.id == appointment_id))
        session.add(StaffAction(org_id=org_id, kind=kind, channel=str(channel), user_id=user_id,
                                patient_id=patient_id, appointment_id=appointment_id, text=text, created_at=now))
        if close_question is not None:
            await session.execute(update(ReminderQuestion).where(ReminderQuestion.id == close_question)
                                  .values(answered_at=now))
        language = await _patient_language(session, patient_id) if patient_id else None
    log.info("staff action added: %s (appointment %s)", kind, appointment_id)
    t = translator_for(language, timezone="UTC")
    replies: tuple[Reply, ...] = ()
    if reply:
        replies = (Text(t("Sorry, we did not understand that. Someone from the clinic will get back to you.")),)
    return ReminderReplyResult(handled=True, action="to_action", appointment_id=appointment_id, replies=replies)


async def open_staff_actions(sessionmaker: async_sessionmaker[AsyncSession], org_id: int) -> list[StaffAction]:
    """The unresolved "to action" items of an organization, oldest first."""
    async with sessionmaker() as session:
        return list(await session.scalars(select(StaffAction).where(
            StaffAction.org_id == org_id, StaffAction.resolved_at.is_(None)).order_by(StaffAction.id)))
