"""Support for the flow tests: a small seeded clinic, a movable clock, a sandbox
payment port, and the `Chat` driver that records golden transcripts."""

from __future__ import annotations

import datetime as dt
import gettext
import json
import os
import re
from dataclasses import dataclass, field
from itertools import count
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.booking import models as m
from bot.booking.types import AppointmentView, BranchView
from bot.channels.render_sms import segments, to_sms
from bot.i18n import Translator
from bot.messages import (
    Buttons, Channel, Choices, Handoff, Inbound, InboundKind, Location, PaymentRequest, Reply, Template, Text,
)
from flows.runtime import Conversation, TurnDeps, TurnOutcome, run_turn

GOLDEN_DIR = Path(__file__).parent / "golden"
# Monday 7 Dec 2026, 08:30 in Mumbai.
START = dt.datetime(2026, 12, 7, 3, 0, tzinfo=dt.timezone.utc)
CODE = re.compile(r"MM-[2-9A-Z]{5}")


class Clock:
    """A clock tests move by hand (shared by the service and the flows)."""

    def __init__(self, now: dt.datetime) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += dt.timedelta(**delta)


class SandboxPayments:
    """A real PaymentPort for tests: a sandbox gateway URL per appointment."""

    async def payment_link(self, appointment: AppointmentView) -> tuple[str, str]:
        reference = f"pay_{appointment.code}"
        return f"https://pay.sandbox.test/{reference}", reference


def translator_for(language: str, branch: BranchView | None) -> Translator:
    """Locale formatting for the language, but the English msgids as text, so goldens stay
    readable and do not change when translators fill in the catalogs."""
    if branch is None:
        return Translator(language=language, translations=gettext.NullTranslations())
    return Translator(language=language, country=branch.country, timezone=branch.timezone,
                      translations=gettext.NullTranslations())


@dataclass
class Clinic:
    org_id: int
    andheri: int
    tnagar: int
    mehta: int
    kumar: int
    iyer: int


async def seed_clinic(sm: async_sessionmaker[AsyncSession]) -> Clinic:
    """Two branches, three doctors, weekday mornings and evenings, one prepaid visit type."""
    async with sm() as s, s.begin():
        org = m.Organization(name="MyMedic Demo", slug="demo")
        s.add(org)
        await s.flush()
        andheri = m.Branch(org_id=org.id, name="MyMedic Andheri", city="Mumbai", address="12 Link Road, Andheri West",
                           latitude=19.1364, longitude=72.8296, timezone="Asia/Kolkata", language="en",
                           country="IN", currency="INR", cancel_window_min=120, lead_time_min=30, horizon_days=60)
        tnagar = m.Branch(org_id=org.id, name="MyMedic T Nagar", city="Chennai", address="4 Usman Road, T Nagar",
                          latitude=13.0418, longitude=80.2341, timezone="Asia/Kolkata", language="ta",
                          country="IN", currency="INR", cancel_window_min=120, lead_time_min=30, horizon_days=60)
        s.add_all([andheri, tnagar])
        await s.flush()
        mehta = m.Doctor(org_id=org.id, first_name="Anita", last_name="Mehta", languages=["en", "hi"],
                         fee_minor=60000, tele_enabled=False)
        kumar = m.Doctor(org_id=org.id, first_name="Ravi", last_name="Kumar", languages=["en", "hi", "ta"],
                         fee_minor=80000, tele_enabled=True)
        iyer = m.Doctor(org_id=org.id, first_name="Priya", last_name="Iyer", languages=["en", "ta"],
                        fee_minor=50000, tele_enabled=False)
        s.add_all([mehta, kumar, iyer])
        await s.flush()
        s.add_all([
            m.DoctorSpecialty(doctor_id=mehta.id, specialty="dermatology"),
            m.DoctorSpecialty(doctor_id=kumar.id, specialty="cardiology"),
            m.DoctorSpecialty(doctor_id=iyer.id, specialty="pediatrics"),
            m.DoctorBranch(doctor_id=mehta.id, branch_id=andheri.id),
            m.DoctorBranch(doctor_id=kumar.id, branch_id=andheri.id),
            m.DoctorBranch(doctor_id=iyer.id, branch_id=tnagar.id),
            m.AppointmentType(org_id=org.id, doctor_id=mehta.id, name="Skin consultation", duration_min=30,
                              mode="in_person", prepay_minor=0),
            m.AppointmentType(org_id=org.id, doctor_id=kumar.id, name="Heart check-up", duration_min=30,
                              mode="in_person", prepay_minor=0),
            m.AppointmentType(org_id=org.id, doctor_id=kumar.id, name="Video consult", duration_min=30,
                              mode="tele", prepay_minor=50000),
            m.AppointmentType(org_id=org.id, doctor_id=iyer.id, name="Child check-up", duration_min=30,
                              mode="in_person", prepay_minor=20000),
        ])
        for doctor, branch in ((mehta, andheri), (kumar, andheri), (iyer, tnagar)):
            for weekday in range(6):
                s.add(m.Schedule(doctor_id=doctor.id, branch_id=branch.id, weekday=weekday,
                                 start_time=dt.time(9, 0), end_time=dt.time(12, 0), slot_minutes=30))
                s.add(m.Schedule(doctor_id=doctor.id, branch_id=branch.id, weekday=weekday,
                                 start_time=dt.time(17, 0), end_time=dt.time(19, 0), slot_minutes=30))
        return Clinic(org.id, andheri.id, tnagar.id, mehta.id, kumar.id, iyer.id)


# --- the text projection of replies --------------------------------------------------


def project(reply: Reply, channel: Channel) -> str:
    """A readable, channel-flavoured text of one reply (WhatsApp widgets, SMS numbered menus)."""
    if isinstance(reply, Text):
        return reply.body
    if isinstance(reply, Choices | Buttons):
        if channel is Channel.SMS:
            lines = [reply.body] + [f"{i}. {o.title}" for i, o in enumerate(reply.options, 1)]
        else:
            kind = "list" if isinstance(reply, Choices) else "buttons"
            lines = [reply.body] + [f"  [{o.title}]" + (f" {o.description}" if o.description else "")
                                    for o in reply.options]
            lines[0] = f"({kind}) {lines[0]}"
        return "\n".join(lines)
    if isinstance(reply, PaymentRequest):
        return f"(payment {reply.amount_minor} {reply.currency}) {reply.body} {reply.url}"
    if isinstance(reply, Location):
        return f"(location {reply.latitude},{reply.longitude}) {reply.name}, {reply.address}"
    if isinstance(reply, Handoff):
        return f"(handoff: {reply.reason}) {reply.body}"
    if isinstance(reply, Template):
        return f"(template {reply.name})"
    raise AssertionError(f"unknown reply {reply!r}")


@dataclass
class Chat:
    """Drives `run_turn` the way the dispatcher does, keeping the state between turns."""

    clinic: Clinic
    deps: TurnDeps
    clock: Clock
    channel: Channel
    user_id: str
    phone: str | None
    state: dict | None = None
    lines: list[str] = field(default_factory=list)
    last: TurnOutcome | None = None
    # On SMS, every reply as the sender renders it: (language, segments, encoding, text).
    sms: list[tuple[str, int, str, str]] = field(default_factory=list)
    _ids: count = field(default_factory=count)

    @property
    def conversation(self) -> Conversation:
        return Conversation(org_id=self.clinic.org_id, channel=self.channel, user_id=self.user_id,
                            phone=self.phone, profile_name="Asha")

    async def _turn(self, shown: str, **fields: object) -> TurnOutcome:
        inbound = Inbound(channel=self.channel, account="acct", user_id=self.user_id,
                          message_id=f"m{next(self._ids)}", timestamp=self.clock(), phone=self.phone,
                          **fields)  # type: ignore[arg-type]
        self.lines.append(f">>> {shown}")
        outcome = await run_turn(inbound, self.state, self.conversation, self.deps)
        # The dispatcher stores the state as JSON in Redis: it must survive the round trip.
        assert json.loads(json.dumps(outcome.state)) == outcome.state
        for reply in outcome.replies:
            self.lines.append(project(reply, self.channel))
            self.lines.append("")
            if self.channel is Channel.SMS:
                text = to_sms(reply)
                self.sms.append((str(outcome.state.get("lang") or "en"), *segments(text), text))
        if outcome.opted_out is not None:
            self.lines.append(f"[opted_out={outcome.opted_out}]")
        self.state = outcome.state
        self.last = outcome
        return outcome

    async def say(self, text: str) -> TurnOutcome:
        return await self._turn(text, kind=InboundKind.TEXT, text=text)

    async def tap(self, title: str) -> TurnOutcome:
        """Pick the option with this title: a tap on WhatsApp, its number typed on SMS."""
        options = self._options()
        matches = [i for i, (_id, t) in enumerate(options) if t == title]
        assert matches, f"no option {title!r} in {[t for _i, t in options]}"
        idx = matches[0]
        if self.channel is Channel.SMS:
            return await self._turn(str(idx + 1), kind=InboundKind.TEXT, text=str(idx + 1))
        opt_id, opt_title = options[idx]
        return await self._turn(f"[{opt_title}]", kind=InboundKind.CHOICE, choice_id=opt_id, choice_title=opt_title)

    async def tap_nth(self, n: int) -> TurnOutcome:
        return await self.tap(self._options()[n - 1][1])

    async def share_location(self, lat: float, lon: float) -> TurnOutcome:
        return await self._turn(f"(location {lat},{lon})", kind=InboundKind.LOCATION, latitude=lat, longitude=lon)

    def _options(self) -> list[list[str]]:
        assert self.last is not None
        for reply in reversed(self.last.replies):
            if isinstance(reply, Choices | Buttons):
                return [[o.id, o.title] for o in reply.options]
        raise AssertionError("the last turn offered no options")

    def titles(self) -> list[str]:
        return [t for _i, t in self._options()]

    def note(self, text: str) -> None:
        self.lines.append(f"--- {text}")

    def text(self) -> str:
        return CODE.sub("MM-XXXXX", "\n".join(self.lines).rstrip() + "\n")


def check_golden(name: str, text: str) -> None:
    """Compare a transcript with tests/flows/golden/<name>.txt (UPDATE_GOLDEN=1 rewrites it)."""
    path = GOLDEN_DIR / f"{name}.txt"
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return
    assert path.exists(), f"missing golden {path.name}; run with UPDATE_GOLDEN=1 and review it"
    expected = path.read_text(encoding="utf-8")
    assert text == expected, f"transcript {name} differs from its golden:\n{text}"


