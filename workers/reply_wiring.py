"""Where the live inbound path meets `workers.reminders.handle_reminder_reply`.

The dispatcher asks `may_answer_reminder` first (no I/O), so an ordinary turn in an open
conversation pays nothing; only then does `reminder_turn` look the message up against the
reminders, ASAP offers and "pick a new time" messages this address was sent. When that
handles it, the result comes back as a `TurnOutcome`, which the dispatcher commits exactly
like a turn (replies keyed by the inbound id, in the same commit as the inbound row).
"""

from __future__ import annotations

import logging
from typing import Any

from arq.connections import ArqRedis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.messages import Channel, Inbound, InboundKind
from flows.appointments import reschedule_data
from flows.runtime import Conversation, TurnDeps, TurnOutcome, start_flow
from flows.understand.commands import global_command
from workers.reminders import handle_reminder_reply

log = logging.getLogger(__name__)

# Choice ids only our reminder / offer / needs-rescheduling messages carry.
REPLY_CHOICE_PREFIXES = ("appointment_reminder:", "asap_offer:", "reminder_q:", "resched_pick:", "resched_other")
# A typed answer to a reminder is short ("1", "yes", "2?"); longer text is a conversation.
SHORT_TEXT = 12


def conversation_open(state: dict | None) -> bool:
    """Whether the saved conversation is waiting for an answer to its own question."""
    return bool(state and state.get("flow") and state.get("prompt"))


def may_answer_reminder(inbound: Inbound, state: dict | None) -> bool:
    """Cheap pre-check (no I/O): can this inbound be a reply to a reminder or offer?

    Our choice ids always can; a short text only when no conversation question is open,
    and never a global command (menu, help, stop…), which the flow answers."""
    if inbound.kind is InboundKind.CHOICE:
        return (inbound.choice_id or "").startswith(REPLY_CHOICE_PREFIXES)
    if inbound.kind is not InboundKind.TEXT or conversation_open(state):
        return False
    text = (inbound.text or "").strip()
    if not text or len(text) > SHORT_TEXT:
        return False
    return global_command(text, sms=inbound.channel is Channel.SMS) is None


async def reminder_turn(
    inbound: Inbound, state: dict | None, conversation: Conversation, deps: TurnDeps, *,
    sessionmaker: async_sessionmaker[AsyncSession], arq: ArqRedis | None = None, payments: Any | None = None,
) -> TurnOutcome | None:
    """Answer `inbound` as a reply to a reminder / offer, or None when it is not one.

    The saved conversation state is kept as it was, except when the reply asks to
    reschedule: then the reschedule conversation for that appointment is opened and its
    first question follows the acknowledgement."""
    raw = inbound.choice_id if inbound.kind is InboundKind.CHOICE else inbound.text
    result = await handle_reminder_reply(
        deps.booking, sessionmaker, org_id=conversation.org_id, channel=conversation.channel,
        user_id=conversation.user_id, text_or_choice=raw or "", context_message_id=inbound.context_message_id,
        now=deps.clock(), arq=arq, payments=payments if payments is not None else deps.payments)
    if not result.handled:
        return None
    log.info("reminder reply msg=%s action=%s appointment=%s", inbound.message_id, result.action,
             result.appointment_id)
    replies = list(result.replies)
    if result.start_flow == "reschedule" and result.appointment_id is not None:
        data = await reschedule_data(deps.booking, result.appointment_id)
        opened = await start_flow("reschedule", data, inbound, state, conversation, deps)
        opened.replies[:0] = replies
        return opened
    if result.start_flow is not None:
        # Nothing names the appointment (an old "Other times" button): show the patient's list.
        opened = await start_flow("appointments", {}, inbound, state, conversation, deps)
        opened.replies[:0] = replies
        return opened
    return TurnOutcome(replies=replies, state=state, patient_id=(state or {}).get("patient_id"))
