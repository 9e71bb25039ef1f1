"""`run_turn`: one inbound message in, replies and the new conversation state out.

The dispatcher (bot/dispatch) owns dedupe, locking, persistence, handoff silence and
sending; this module only computes the turn. The state is a small JSON dict::

    {"v": 1, "lang": "en", "patient_id": 7, "branch": {...BranchView fields...},
     "flow": "book", "state": "slot", "data": {...ids...}, "history": ["find", "date"],
     "options": [["s:…", "10:30 AM"], …], "prompt": {...last question...}, "misses": 0}
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass

from bot.booking.errors import BookingError
from bot.booking.types import BranchView
from bot.i18n import Translator
from bot.messages import Channel, Handoff, Inbound, InboundKind, Option, Reply
from flows.appointments import AppointmentsFlow, CancelFlow, RescheduleFlow, booked_upcoming
from flows.book import BookFlow
from flows.engine import MISSED, FlowError, FlowRegistry
from flows.menu import CONSENT_PURPOSE, LanguageFlow, MenuFlow, WelcomeFlow, send_help
from flows.ports import BookingPort, PaymentPort
from flows.turn import Answer, Turn, resolve_choice
from flows.understand.commands import Command, global_command

log = logging.getLogger(__name__)

STATE_VERSION = 1
MISSES_BEFORE_HUMAN = 3
SHIPPED_FLOWS = (WelcomeFlow, MenuFlow, LanguageFlow, BookFlow, AppointmentsFlow, CancelFlow, RescheduleFlow)


@dataclass(frozen=True)
class Conversation:
    """Who we are talking to; built by the dispatcher."""

    org_id: int
    channel: Channel
    user_id: str             # BSUID / wa_id on WhatsApp, E.164 on SMS
    phone: str | None
    profile_name: str | None


@dataclass(frozen=True)
class TurnDeps:
    """What a turn needs from outside, injected by the dispatcher."""

    booking: BookingPort
    payments: PaymentPort
    clock: Callable[[], dt.datetime]                                  # aware UTC
    translator_for: Callable[[str, BranchView | None], Translator]    # (language, branch) -> Translator


@dataclass
class TurnOutcome:
    """The result of one turn. When `handoff` is set it is also the last reply."""

    replies: list[Reply]
    state: dict
    handoff: Handoff | None = None
    opted_out: bool | None = None
    patient_id: int | None = None


@functools.cache
def _registry() -> FlowRegistry:
    """The shipped flows (stateless instances), built once."""
    return FlowRegistry(SHIPPED_FLOWS)


def _answer(inbound: Inbound, session: dict) -> Answer:
    choice = resolve_choice(inbound, session.get("options") or [])
    # The title of a tapped button is read as text only when the tap is for this question:
    # a stale "Confirm" from an older message must not confirm whatever is asked now.
    text = inbound.text if inbound.kind is not InboundKind.CHOICE else (inbound.choice_title if choice else None)
    return Answer(kind=inbound.kind, text=text, choice=choice,
                  latitude=inbound.latitude, longitude=inbound.longitude)


async def _open_turn(inbound: Inbound, state: dict | None, conversation: Conversation,
                     deps: TurnDeps) -> tuple[Turn, bool]:
    """A Turn over the saved state (a fresh one when it is missing or unusable), with the
    patient and branch loaded; also says whether the state was fresh."""
    fresh = state is None or state.get("v") != STATE_VERSION or not _valid(state)
    session: dict = {"v": STATE_VERSION} if fresh else dict(state)  # type: ignore[arg-type]
    turn = Turn(inbound=inbound, conversation=conversation, deps=deps, registry=_registry(), session=session)
    if fresh or "patient_id" not in session:
        patient = await turn.patient()
        turn.set_patient(patient)
        if patient.language and not session.get("lang"):
            session["lang"] = patient.language
    turn.load_branch()
    return turn, fresh


async def run_turn(inbound: Inbound, state: dict | None, conversation: Conversation, deps: TurnDeps) -> TurnOutcome:
    """Compute one turn. `state is None` (first contact, or the saved state expired or
    was lost) restarts kindly, knowing the patient from the database."""
    turn, fresh = await _open_turn(inbound, state, conversation, deps)
    session = turn.session

    command = None
    if inbound.kind is InboundKind.TEXT:
        command = global_command(inbound.text, sms=turn.sms)
    picked = resolve_choice(inbound, session.get("options") or []) if not fresh else inbound.choice_id
    if command is None and picked and picked.startswith("g:"):
        command = _command_id(picked)   # "Talk to a person" / "Main menu" buttons, by tap, number or title

    if inbound.kind is InboundKind.REACTION:
        pass   # a 👍 on our message needs no answer, whatever the state
    elif fresh and command not in (Command.STOP, Command.START, Command.HUMAN, Command.LANGUAGE, Command.HELP):
        await _restart(turn)
    elif command is not None:
        await _command(turn, command)
    elif inbound.kind in (InboundKind.MEDIA, InboundKind.CONTACTS, InboundKind.UNSUPPORTED):
        turn.say(turn.t("Sorry, I can only read text, your choices and shared locations here."))
        await _reprompt(turn)
    else:
        await _answer_flow(turn)
    return TurnOutcome(replies=turn.replies, state=turn.session, handoff=turn.handoff,
                       opted_out=turn.opted_out, patient_id=turn.session.get("patient_id"))



async def start_flow(name: str, data: dict, inbound: Inbound, state: dict | None, conversation: Conversation,
                     deps: TurnDeps) -> TurnOutcome:
    """Open flow `name` with `data` for `inbound`'s sender, outside an ordinary turn (e.g. a
    reply to a reminder that asks to reschedule): the patient is looked up, the flow's first
    question is the reply, and the saved language is kept."""
    turn, _fresh = await _open_turn(inbound, state, conversation, deps)
    turn.session["misses"] = 0
    await turn.start(name, data)
    return TurnOutcome(replies=turn.replies, state=turn.session, patient_id=turn.session.get("patient_id"))


def _valid(state: dict) -> bool:
    """False for a saved state this code cannot continue (a flow or state since renamed)."""
    name = state.get("flow")
    if name is None:
        return True
    try:
        flow = _registry().get(name)
    except FlowError:
        return False
    return state.get("state") in flow.states


def _command_id(choice_id: str) -> Command | None:
    try:
        return Command(choice_id[2:])
    except ValueError:
        return None


async def _restart(turn: Turn) -> None:
    """First contact → welcome flow; a known patient whose state was lost → welcome back."""
    patient = await turn.patient()
    if not patient.language:
        await turn.start("welcome")
        return
    t = turn.t
    name = patient.first_name
    turn.say(t("Welcome back, {name} — where were we?", name=name) if name else t("Welcome back — where were we?"))
    upcoming = await booked_upcoming(turn)
    if upcoming:
        turn.say(t.plural("You have {n} upcoming appointment — see \"My appointments\".",
                          "You have {n} upcoming appointments — see \"My appointments\".", len(upcoming)))
    await turn.start("menu")


async def _command(turn: Turn, command: Command) -> None:
    t = turn.t
    turn.session["misses"] = 0
    if command is Command.STOP:
        await turn.booking.record_consent(turn.patient_id, channel=turn.channel, purpose=CONSENT_PURPOSE,
                                          given=False, source=f"chat:{(turn.inbound.text or 'stop').strip().upper()[:20]}")
        turn.opted_out = True
        if not turn.sms:
            # On SMS the carrier/Twilio answers STOP itself and blocks anything we would send.
            turn.say(t("You won't get any more messages from us. Send START to opt back in."))
        return
    if command is Command.START:
        await turn.booking.record_consent(turn.patient_id, channel=turn.channel, purpose=CONSENT_PURPOSE,
                                          given=True, source="chat:START")
        turn.opted_out = False
        turn.say(t("Welcome back! You'll get messages about your appointments again."))
        await turn.start("welcome" if not turn.session.get("lang") else "menu")
    elif command is Command.MENU:
        await turn.start("menu")
    elif command is Command.BACK:
        if not await turn.back():
            await turn.start("menu")
    elif command is Command.HELP:
        send_help(turn)
        await _reprompt(turn)
    elif command is Command.HUMAN:
        turn.hand_off("patient_request")
    elif command is Command.LANGUAGE:
        await turn.start("language")
    elif command is Command.BOOK:
        await turn.start("book")


async def _reprompt(turn: Turn) -> None:
    """Ask the current question again (or show the menu when there is none)."""
    if turn.session.get("prompt"):
        turn.repeat_prompt()
        return
    flow = turn.flow()
    if flow is None:
        await turn.start("menu")
    else:
        await flow.ask(turn, turn.session["state"])


async def _answer_flow(turn: Turn) -> None:
    flow = turn.flow()
    if flow is None:
        await turn.start("menu")
        return
    answer = _answer(turn.inbound, turn.session)
    try:
        result = await flow.handle(turn, turn.session["state"], answer)
    except BookingError as exc:
        # Something changed under the conversation (an appointment cancelled by staff, a
        # doctor deactivated…): say so kindly and start from the menu.
        log.info("turn hit booking error %s in %s.%s", exc.code, flow.name, turn.session.get("state"))
        turn.say(turn.t("Sorry, that didn't work — something changed in the meantime."))
        await turn.start("menu")
        return
    if result is not MISSED:
        turn.session["misses"] = 0
        return
    misses = int(turn.session.get("misses", 0)) + 1
    t = turn.t
    if misses >= MISSES_BEFORE_HUMAN:
        turn.session["misses"] = 0
        turn.buttons(t("Sorry, I'm having trouble understanding. Would you like to talk to a person?"),
                     [Option("g:human", t("Talk to a person")), Option("g:menu", t("Main menu"))])
        return
    turn.session["misses"] = misses
    if not turn.replies:
        turn.say(t("Sorry, I didn't understand that."))
    await _reprompt(turn)
