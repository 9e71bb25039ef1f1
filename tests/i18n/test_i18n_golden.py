"""Golden transcripts of the booking flow in Hindi and Tamil, on WhatsApp and SMS, with the
shipped catalogs (the flow goldens in tests/flows keep English msgids on purpose).

Reuses the flow test harness (tests/flows/flows_transcript.py) over the real BookingService;
only the translator differs: `bot.i18n.Translations` compiled from locales/ into a temp var
dir. Run with UPDATE_GOLDEN=1 to rewrite tests/i18n/golden/*.txt, then read the diff.
"""

from __future__ import annotations

import datetime as dt
import os
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "flows"))

from bot.booking.service import BookingService  # noqa: E402
from bot.booking.types import AppointmentStatus, BranchView  # noqa: E402
from bot.i18n import Translations, Translator  # noqa: E402
from bot.messages import Buttons, Channel, Choices  # noqa: E402
from flows.runtime import TurnDeps  # noqa: E402
from flows_transcript import START, Chat, Clinic, Clock, SandboxPayments, seed_clinic  # noqa: E402

GOLDEN_DIR = Path(__file__).parent / "golden"
NewChat = Callable[..., Chat]


@pytest.fixture(scope="module")
def translations(tmp_path_factory: pytest.TempPathFactory) -> Translations:
    return Translations(tmp_path_factory.mktemp("var"))


@pytest.fixture
def clock() -> Clock:
    return Clock(START)


@pytest.fixture
async def clinic(db: async_sessionmaker[AsyncSession]) -> Clinic:
    return await seed_clinic(db)


@pytest.fixture
def service(db: async_sessionmaker[AsyncSession], clock: Clock) -> BookingService:
    return BookingService(db, clock=clock)


@pytest.fixture
def new_chat(clinic: Clinic, service: BookingService, clock: Clock, translations: Translations) -> NewChat:
    def translator_for(language: str, branch: BranchView | None) -> Translator:
        if branch is None:
            return translations.translator(language)
        return translations.translator(language, country=branch.country, timezone=branch.timezone)

    deps = TurnDeps(booking=service, payments=SandboxPayments(), clock=clock, translator_for=translator_for)

    def make(channel: Channel = Channel.WHATSAPP) -> Chat:
        phone = "+919820000001"
        user = phone if channel is Channel.SMS else "wa-asha"
        return Chat(clinic=clinic, deps=deps, clock=clock, channel=channel, user_id=user, phone=phone)
    return make


def check_golden(name: str, text: str) -> None:
    path = GOLDEN_DIR / f"{name}.txt"
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return
    assert path.exists(), f"missing golden {path.name}; run with UPDATE_GOLDEN=1 and review it"
    assert text == path.read_text(encoding="utf-8"), f"transcript {name} differs from its golden:\n{text}"


def _shown_text(chat: Chat) -> str:
    """Everything the bot said (not what the patient typed)."""
    return "\n".join(line for line in chat.lines if not line.startswith(">>>"))


def _assert_in_script(chat: Chat, script_range: tuple[int, int]) -> None:
    # The bot really speaks the language: every reply carries letters of its script, and
    # every offered title fits the channel.
    lo, hi = script_range
    said = _shown_text(chat)
    assert sum(lo <= ord(c) <= hi for c in said) > len(said) // 4
    for reply in chat.last.replies if chat.last else ():
        if isinstance(reply, Choices):
            assert all(len(o.title) <= 24 for o in reply.options) and len(reply.button) <= 20
        if isinstance(reply, Buttons):
            assert all(len(o.title) <= 20 for o in reply.options)


DEVANAGARI = (0x0900, 0x097F)
TAMIL = (0x0B80, 0x0BFF)


@pytest.mark.parametrize("channel", [Channel.SMS, Channel.WHATSAPP])
async def test_booking_in_hindi(new_chat: NewChat, service: BookingService, clinic: Clinic, channel: Channel) -> None:
    chat = new_chat(channel)
    await chat.say("नमस्ते")
    await chat.say("हिंदी")
    await chat.say("हाँ")
    await chat.say("१")                  # Book appointment
    await chat.say("त्वचा")              # skin → dermatology
    await chat.say("कल शाम")             # tomorrow evening
    await chat.say("१")                  # the first slot
    await chat.say("१")                  # for me
    await chat.say("Asha Verma")
    await chat.say("हाँ")                # confirm
    _assert_in_script(chat, DEVANAGARI)
    check_golden(f"booking_hi_{channel.value}", chat.text())
    me = await service.find_or_create_patient(clinic.org_id, phone="+919820000001") if channel is Channel.SMS \
        else await service.find_or_create_patient(clinic.org_id, whatsapp_id="wa-asha")
    assert me.language == "hi"
    [appt] = await service.appointments_for(me.id)
    assert appt.status in (AppointmentStatus.CONFIRMED, AppointmentStatus.PENDING_PAYMENT)
    assert appt.start.astimezone(dt.timezone(dt.timedelta(hours=5, minutes=30))).hour >= 17


@pytest.mark.parametrize("channel", [Channel.SMS, Channel.WHATSAPP])
async def test_booking_in_tamil(new_chat: NewChat, service: BookingService, clinic: Clinic, channel: Channel) -> None:
    chat = new_chat(channel)
    await chat.say("வணக்கம்")
    await chat.say("தமிழ்")
    await chat.say("சரி")
    await chat.say("௧")                  # Tamil digit one: Book appointment
    await chat.say("தோல்")               # skin → dermatology
    await chat.say("நாளை காலை")          # tomorrow morning
    await chat.say("1")
    await chat.say("1")                  # for me
    await chat.say("Asha Verma")
    await chat.say("ஆம்")                # confirm
    _assert_in_script(chat, TAMIL)
    check_golden(f"booking_ta_{channel.value}", chat.text())
    me = await service.find_or_create_patient(clinic.org_id, phone="+919820000001") if channel is Channel.SMS \
        else await service.find_or_create_patient(clinic.org_id, whatsapp_id="wa-asha")
    assert me.language == "ta"
    [appt] = await service.appointments_for(me.id)
    assert appt.status in (AppointmentStatus.CONFIRMED, AppointmentStatus.PENDING_PAYMENT)
    assert appt.start.astimezone(dt.timezone(dt.timedelta(hours=5, minutes=30))).hour < 12
