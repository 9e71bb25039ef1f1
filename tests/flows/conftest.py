"""Flow test fixtures over the real BookingService (see flows_transcript.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.booking.service import BookingService
from bot.messages import Channel
from flows.runtime import TurnDeps
from flows_transcript import START, Chat, Clinic, Clock, SandboxPayments, seed_clinic, translator_for


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
def deps(service: BookingService, clock: Clock) -> TurnDeps:
    return TurnDeps(booking=service, payments=SandboxPayments(), clock=clock, translator_for=translator_for)


# English SMS replies must fit in this many segments; Hindi and Tamil are UCS-2 (67
# characters a segment) and are only reported (run with -s to see them).
SMS_MAX_SEGMENTS = 2


@pytest.fixture
def new_chat(clinic: Clinic, deps: TurnDeps, clock: Clock) -> Iterator[Callable[..., Chat]]:
    chats: list[Chat] = []

    def make(channel: Channel = Channel.WHATSAPP, user: str = "wa-asha", phone: str | None = "+919820000001") -> Chat:
        if channel is Channel.SMS and user == "wa-asha":
            user = phone or "+919820000001"
        chat = Chat(clinic=clinic, deps=deps, clock=clock, channel=channel, user_id=user, phone=phone)
        chats.append(chat)
        return chat

    yield make
    sent = [entry for chat in chats for entry in chat.sms]
    for language in sorted({lang for lang, *_ in sent} - {"en"}):
        counts = sorted(n for lang, n, *_ in sent if lang == language)
        print(f"SMS segments ({language}): {counts}")
    too_long = [f"{n} segments ({encoding}): {text!r}" for lang, n, encoding, text in sent
                if lang == "en" and n > SMS_MAX_SEGMENTS]
    assert not too_long, "English SMS replies over two segments:\n" + "\n".join(too_long)
