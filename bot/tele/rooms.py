"""Rooms of tele appointments: Jitsi-style names, signed per-participant JWTs, join tokens
and the `tele.*` events (written to the booking core's event outbox).

A participant's link is our own short URL (`/t/{token}`); the redirect behind it records
the join and sends the browser on to `https://{TELE_HOST}/{room}?jwt=…`. The JWT (HS256,
PyJWT) carries `iss` (app id), `aud`, `sub` (the host), `room`, `exp` and `context.user`
with the first name only.
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass
from typing import Any

import jwt
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.booking import models as bm
from bot.booking.types import AppointmentView
from bot.config import Settings
from workers.models import TeleRoom, TeleToken

JWT_AUDIENCE = "jitsi"
# A link stays usable this long after the visit's end (overruns, late doctors).
LINK_GRACE = dt.timedelta(hours=1)
PATIENT, DOCTOR = "patient", "doctor"

ROOM_CREATED = "tele.room.created"
SESSION_STARTED = "tele.session.started"
SESSION_COMPLETED = "tele.session.completed"
SESSION_FAILED = "tele.session.failed"


class TeleConfigError(RuntimeError):
    """Tele links cannot be signed: no TELE_APP_SECRET configured."""


def new_room_name() -> str:
    """An unguessable, URL-safe room name (Jitsi rooms are open to whoever knows the name)."""
    return "mymedic-" + secrets.token_hex(10)


def participant_jwt(settings: Settings, *, room: str, subject: str, first_name: str | None,
                    expires_at: dt.datetime, moderator: bool = False) -> str:
    """The HS256 JWT one participant joins `room` with."""
    if not settings.tele_app_secret:
        raise TeleConfigError("TELE_APP_SECRET is not set")
    claims: dict[str, Any] = {
        "iss": settings.tele_app_id,
        "aud": JWT_AUDIENCE,
        "sub": settings.tele_host,
        "room": room,
        "exp": int(expires_at.timestamp()),
        # Only the first name travels to the meeting provider (minimum data).
        "context": {"user": {"name": first_name or "", "moderator": moderator}},
    }
    # The subject is who the token is for, kept as a non-PHI id for our own audit.
    claims["context"]["user"]["id"] = subject
    return jwt.encode(claims, settings.tele_app_secret, algorithm="HS256")


def decode_participant_jwt(settings: Settings, token: str) -> dict[str, Any]:
    """Verify and decode a participant JWT (what the meeting server does)."""
    return jwt.decode(token, settings.tele_app_secret, algorithms=["HS256"], audience=JWT_AUDIENCE,
                      issuer=settings.tele_app_id)


def join_url(settings: Settings, token: str) -> str:
    """The participant's short link (SHORT_LINK_BASE when set: an SMS variable holds 30 characters)."""
    return f"{settings.short_link_base or settings.public_url}/t/{token}"


def meeting_url(settings: Settings, room: str, jwt_token: str) -> str:
    return f"https://{settings.tele_host}/{room}?jwt={jwt_token}"


def emit(session: AsyncSession, *, org_id: int | None, type_: str, payload: dict[str, Any], at: dt.datetime) -> None:
    """Add a `tele.*` event to the booking core's outbox, in the caller's transaction."""
    session.add(bm.Event(org_id=org_id, type=type_, payload=payload, created_at=at))


async def ensure_room(session: AsyncSession, appt: AppointmentView, *, now: dt.datetime) -> TeleRoom:
    """The appointment's room with a token per participant (created once; emits
    `tele.room.created` the first time)."""
    room = await session.scalar(select(TeleRoom).where(TeleRoom.appointment_id == appt.id))
    expires = appt.end + LINK_GRACE
    if room is None:
        room = TeleRoom(org_id=appt.org_id, appointment_id=appt.id, room=new_room_name(), status="created",
                        created_at=now)
        session.add(room)
        await session.flush()
        first = (appt.patient_name or "").split()
        doctor = await session.get(bm.Doctor, appt.doctor_id)
        session.add_all([
            TeleToken(token=secrets.token_urlsafe(6), room_id=room.id, role=PATIENT,
                      subject=f"patient:{appt.patient_id}", display_name=first[0] if first else None,
                      expires_at=expires, join_count=0),
            TeleToken(token=secrets.token_urlsafe(6), room_id=room.id, role=DOCTOR,
                      subject=f"doctor:{appt.doctor_id}",
                      display_name=doctor.first_name if doctor else None,
                      expires_at=expires, join_count=0),
        ])
        emit(session, org_id=appt.org_id, type_=ROOM_CREATED,
             payload={"appointment_id": appt.id, "room_id": room.id}, at=now)
        await session.flush()
    else:
        # A moved appointment keeps its room; its links live until the new end.
        for token in await session.scalars(select(TeleToken).where(TeleToken.room_id == room.id)):
            token.expires_at = max(token.expires_at, expires)
    return room


async def token_for(session: AsyncSession, room: TeleRoom, role: str) -> TeleToken:
    row = await session.scalar(select(TeleToken).where(TeleToken.room_id == room.id, TeleToken.role == role))
    assert row is not None, "ensure_room creates both tokens"
    return row


@dataclass(frozen=True, slots=True)
class Join:
    redirect_to: str
    appointment_id: int
    role: str
    first_join: bool


async def record_join(session: AsyncSession, settings: Settings, token: str, *, now: dt.datetime) -> Join | None:
    """Record that the holder of `token` opened their link; None when it is unknown or expired.
    The first join of the room starts the session (`tele.session.started`)."""
    row = await session.scalar(select(TeleToken).where(TeleToken.token == token).with_for_update())
    if row is None or row.expires_at <= now:
        return None
    room = await session.scalar(select(TeleRoom).where(TeleRoom.id == row.room_id).with_for_update())
    if room is None or room.status in ("completed", "failed", "cancelled"):
        return None
    first_join = row.first_joined_at is None
    row.first_joined_at = row.first_joined_at or now
    row.last_joined_at = now
    row.join_count += 1
    if room.status == "created":
        room.status, room.started_at = "started", now
        emit(session, org_id=room.org_id, type_=SESSION_STARTED,
             payload={"appointment_id": room.appointment_id, "room_id": room.id, "role": row.role}, at=now)
    signed = participant_jwt(settings, room=room.room, subject=row.subject, first_name=row.display_name,
                             expires_at=row.expires_at, moderator=row.role == DOCTOR)
    return Join(meeting_url(settings, room.room, signed), room.appointment_id, row.role, first_join)


async def finish_room(session: AsyncSession, appointment_id: int, *, completed: bool, now: dt.datetime) -> bool:
    """Close the room of an appointment: `tele.session.completed` or `…failed` (once)."""
    room = await session.scalar(select(TeleRoom).where(TeleRoom.appointment_id == appointment_id)
                                .with_for_update())
    if room is None or room.status in ("completed", "failed", "cancelled"):
        return False
    room.status = "completed" if completed else "failed"
    room.ended_at = now
    emit(session, org_id=room.org_id, type_=SESSION_COMPLETED if completed else SESSION_FAILED,
         payload={"appointment_id": appointment_id, "room_id": room.id,
                  "joined": room.started_at is not None}, at=now)
    return True
