"""One turn in progress: the patient's answer, the session it changes, the replies it
produces. Flows receive a `Turn` and act only through it and `turn.booking`."""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from bot.booking.types import BranchView, PatientView
from bot.i18n import DEFAULT_LANGUAGE, Translator
from bot.messages import Buttons, Channel, Choices, Handoff, Inbound, InboundKind, Option, Reply, Text
from flows.engine import FlowError
from flows.understand.numbers import option_number
from flows.understand.text import normalize

if TYPE_CHECKING:
    from flows.engine import Flow, FlowRegistry
    from flows.runtime import Conversation, TurnDeps

log = logging.getLogger(__name__)

MORE_ID = "more"


@dataclass(frozen=True, slots=True)
class Answer:
    """The patient's message as a flow sees it: `choice` is the id of the option they
    picked (by button, list row, number or exact title), else None."""

    kind: InboundKind
    text: str | None = None
    choice: str | None = None
    latitude: float | None = None
    longitude: float | None = None

    @property
    def norm(self) -> str:
        return normalize(self.text)


def _local_id(wire_id: str) -> str:
    """The flow's own option id inside a wire id "<flow>.<state>|<id>" (global ids as they are)."""
    return wire_id.split("|", 1)[1] if "|" in wire_id else wire_id


def resolve_choice(inbound: Inbound, options: list[list[str]]) -> str | None:
    """Map an inbound to the id of one of the options last shown: a picked id, an option
    number ("2", "२"), or the exact title — the same on WhatsApp and SMS.

    Wire ids carry the flow and state that showed them, so a tap on a button of an older
    message (a stale "Yes" from another question) is not taken for an answer to this one."""
    ids = [o[0] for o in options]
    if inbound.kind is InboundKind.CHOICE and inbound.choice_id:
        if inbound.choice_id in ids or inbound.choice_id.startswith("g:"):
            return _local_id(inbound.choice_id)
        return None
    if inbound.kind is not InboundKind.TEXT or not options:
        return None
    number = option_number(inbound.text)
    if number is not None:
        return _local_id(ids[number - 1]) if 1 <= number <= len(ids) else None
    norm = normalize(inbound.text)
    for opt_id, title in options:
        if normalize(title) == norm:
            return _local_id(opt_id)
    return None


@dataclass
class Turn:
    """The mutable context of one turn. `session` is the JSON state the dispatcher saves."""

    inbound: Inbound
    conversation: Conversation
    deps: TurnDeps
    registry: FlowRegistry
    session: dict[str, Any]
    replies: list[Reply] = field(default_factory=list)
    handoff: Handoff | None = None
    opted_out: bool | None = None
    _t: Translator | None = None
    _branch: BranchView | None = None
    _patient: PatientView | None = None

    # -- context ---------------------------------------------------------------------
    @property
    def booking(self):  # noqa: ANN201 - the BookingPort protocol
        return self.deps.booking

    @property
    def org_id(self) -> int:
        return self.conversation.org_id

    @property
    def channel(self) -> str:
        return self.conversation.channel.value

    @property
    def sms(self) -> bool:
        return self.conversation.channel is Channel.SMS

    @property
    def now(self) -> dt.datetime:
        return self.deps.clock()

    @property
    def data(self) -> dict[str, Any]:
        """The current flow's small data (ids, ISO strings), reset when a flow starts."""
        return self.session.setdefault("data", {})

    @property
    def language(self) -> str:
        return self.session.get("lang") or DEFAULT_LANGUAGE

    @property
    def patient_id(self) -> int:
        return int(self.session["patient_id"])

    async def patient(self) -> PatientView:
        """The account holder we are talking to (looked up once per turn)."""
        if self._patient is None:
            self._patient = await self.booking.find_or_create_patient(
                self.org_id, phone=self.conversation.phone,
                whatsapp_id=self.conversation.user_id if not self.sms else None,
            )
        return self._patient

    def set_patient(self, patient: PatientView) -> None:
        self._patient = patient
        self.session["patient_id"] = patient.id

    def load_branch(self) -> None:
        """The branch the conversation is about (for the translator's zone and country),
        kept in the session so a turn costs no extra query for it."""
        saved = self.session.get("branch")
        if saved and (self._branch is None or self._branch.id != saved["id"]):
            self._branch = BranchView(**saved)
            self._t = None

    async def use_branch(self, branch_id: int) -> BranchView:
        if self._branch is None or self._branch.id != branch_id:
            branch = await self.booking.get_branch(branch_id)
            self.session["branch"] = asdict(branch)
            self.load_branch()
        assert self._branch is not None
        return self._branch

    def set_language(self, language: str) -> None:
        self.session["lang"] = language
        self._t = None

    @property
    def t(self) -> Translator:
        """The translator for the patient's language and the branch's locale and zone."""
        if self._t is None:
            self._t = self.deps.translator_for(self.language, self._branch)
        return self._t

    @property
    def tz(self) -> str:
        return self._branch.timezone if self._branch else self.t.timezone

    # -- replies ---------------------------------------------------------------------
    def say(self, body: str) -> None:
        self.replies.append(Text(body))

    def send(self, reply: Reply) -> None:
        self.replies.append(reply)

    def _wire(self, options: list[Option]) -> tuple[Option, ...]:
        """Options with ids tagged by the asking flow and state (see `resolve_choice`)."""
        tag = f"{self.session.get('flow')}.{self.session.get('state')}|"
        return tuple(o if o.id.startswith("g:") else Option(tag + o.id, o.title, o.description) for o in options)

    def _remember(self, kind: str, body: str, options: tuple[Option, ...], button: str | None,
                  footer: str | None) -> None:
        self.session["options"] = [[o.id, o.title] for o in options]
        self.session["prompt"] = {
            "kind": kind, "body": body, "button": button, "footer": footer,
            "options": [[o.id, o.title, o.description] for o in options],
        }

    def choices(self, body: str, options: list[Option], *, button: str | None = None,
                footer: str | None = None) -> None:
        """Ask the patient to pick one of ≤ 10 options (remembered for numbers/titles)."""
        button = button or self.t("Choose")
        opts = self._wire(options)
        self.replies.append(Choices(body=body, options=opts, button=button, footer=footer))
        self._remember("choices", body, opts, button, footer)

    def buttons(self, body: str, options: list[Option], *, footer: str | None = None) -> None:
        """Ask the patient to pick one of ≤ 3 options."""
        opts = self._wire(options)
        self.replies.append(Buttons(body=body, options=opts, footer=footer))
        self._remember("buttons", body, opts, None, footer)

    def ask_free_text(self, body: str) -> None:
        """Ask an open question (no options to map numbers to)."""
        self.replies.append(Text(body))
        self.session["options"] = []
        self.session["prompt"] = {"kind": "text", "body": body}

    def repeat_prompt(self) -> None:
        """Show the last question again, exactly as it was."""
        prompt = self.session.get("prompt")
        if not prompt:
            return
        opts = tuple(Option(i, title, desc) for i, title, desc in prompt.get("options", []))
        if prompt["kind"] == "choices":
            self.replies.append(Choices(prompt["body"], opts, button=prompt["button"], footer=prompt["footer"]))
        elif prompt["kind"] == "buttons":
            self.replies.append(Buttons(prompt["body"], opts, footer=prompt["footer"]))
        else:
            self.replies.append(Text(prompt["body"]))

    def hand_off(self, reason: str) -> None:
        """Tell the patient a person will take over, and mark the turn for the staff inbox."""
        self.handoff = Handoff(
            self.t("I'm passing you to our team. Someone will reply here soon."), reason=reason,
        )
        self.replies.append(self.handoff)
        self.session.update(flow=None, state=None, data={}, history=[], options=[], prompt=None, misses=0)

    # -- moving -----------------------------------------------------------------------
    def flow(self) -> Flow | None:
        name = self.session.get("flow")
        return self.registry.get(name) if name else None

    async def go(self, flow: Flow, target: str) -> None:
        """Move the current flow along a declared transition and show the new prompt."""
        source = self.session.get("state")
        if self.session.get("flow") != flow.name or source is None:
            raise FlowError(f"flow {flow.name} is not the active flow")
        flow.check_transition(self, source, target)
        self.session.setdefault("history", []).append(source)
        self.session["state"] = target
        await flow.ask(self, target)
        if flow.states[target].final:
            # Done: the next message is read by the main menu (shown again on a miss).
            self.session.update(flow="menu", state="main", data={}, history=[], options=[], prompt=None)

    async def start(self, name: str, data: dict[str, Any] | None = None, *, announce: bool = True) -> None:
        """Begin flow `name` at its initial state with fresh data and show its prompt."""
        flow = self.registry.get(name)
        self.session.update(flow=name, state=flow.initial_state, data=dict(data or {}), history=[])
        if announce:
            await flow.ask(self, flow.initial_state)

    async def back(self) -> bool:
        """Return to the previous state of the current flow; False when there is none."""
        history = self.session.get("history") or []
        flow = self.flow()
        if not history or flow is None:
            return False
        previous = history.pop()
        self.session["state"] = previous
        await flow.ask(self, previous)
        return True
