"""Tele appointments: room at confirmation, the join link N minutes before and only once
a required prepayment is captured, JWT claims, and the redirect that records the join."""

from __future__ import annotations

import datetime as dt

import jwt
from sqlalchemy import select

from bot.booking import models as m
from bot.booking.types import Actor
from bot.tele.rooms import JWT_AUDIENCE
from workers.models import TeleRoom, TeleToken
from worker_helpers import book, ist, outbound, tick

PHONE = "+919845012345"
SHORT = "https://mm.test"


async def events(db, prefix="tele."):  # type: ignore[no-untyped-def]
    async with db() as s:
        rows = (await s.scalars(select(m.Event).where(m.Event.type.like(prefix + "%")).order_by(m.Event.id))).all()
        return [(e.type, e.payload.get("appointment_id")) for e in rows]


async def test_room_at_confirmation_link_10_minutes_before_and_join_recorded(ctx, db, booking, clinic, clock, app):
    ctx["settings"] = ctx["settings"].with_(short_link_base=SHORT)
    patient = await booking.find_or_create_patient(clinic.org_id, phone="98450 12345", name="Priya Sharma")
    appt = await book(booking, clinic, patient.id, ist(3, 10), type_id=clinic.tele_free_id,
                      doctor_id=clinic.tele_doctor_id)
    await tick(ctx)
    assert await events(db) == [("tele.room.created", appt.id)]
    clock.set(ist(3, 9, 49))
    await tick(ctx)
    assert await outbound(db, purpose="tele_link") == []
    clock.set(ist(3, 9, 50))
    await tick(ctx)
    [row] = await outbound(db, purpose="tele_link")
    assert row.reply["name"] == "tele_join_link"
    link = row.reply["params"]["join_link"]
    assert link.startswith(f"{SHORT}/t/") and len(link) <= 30
    link = link.replace(SHORT, app.settings.public_url)   # the short domain points at our app

    async with app.http.get(link, allow_redirects=False) as resp:
        assert resp.status == 302
        target = resp.headers["Location"]
    host_and_room, token = target.split("?jwt=")
    async with db() as s:
        room = await s.scalar(select(TeleRoom).where(TeleRoom.appointment_id == appt.id))
        patient_token = await s.scalar(select(TeleToken).where(TeleToken.room_id == room.id,
                                                               TeleToken.role == "patient"))
    assert host_and_room == f"https://{app.settings.tele_host}/{room.room}"
    # The test's clock is not the wall clock: check `exp` against the visit, not against now.
    claims = jwt.decode(token, app.settings.tele_app_secret, algorithms=["HS256"], audience=JWT_AUDIENCE,
                        options={"verify_exp": False})
    assert claims["iss"] == app.settings.tele_app_id
    assert claims["sub"] == app.settings.tele_host
    assert claims["room"] == room.room
    assert claims["context"]["user"]["name"] == "Priya"       # first name only
    assert "Sharma" not in str(claims) and PHONE not in str(claims)
    assert dt.datetime.fromtimestamp(claims["exp"], dt.timezone.utc) > appt.end
    assert room.status == "started"
    assert patient_token.first_joined_at is not None and patient_token.join_count == 1
    assert ("tele.session.started", appt.id) in await events(db)
    # A wrong signature is refused by the meeting server.
    bad = jwt.encode({**claims}, "another-secret-of-the-same-length-x", algorithm="HS256")
    try:
        jwt.decode(bad, app.settings.tele_app_secret, algorithms=["HS256"], audience=JWT_AUDIENCE,
                   options={"verify_exp": False})
        raise AssertionError("a token signed with another secret was accepted")
    except jwt.InvalidSignatureError:
        pass

    clock.set(ist(3, 10, 20))
    await booking.mark_completed(appt.id, actor=Actor.STAFF)
    await tick(ctx)
    assert (await events(db))[-1] == ("tele.session.completed", appt.id)
    async with app.http.get(link, allow_redirects=False) as resp:
        assert resp.status == 410   # a closed room's link stops working


async def test_link_waits_for_prepayment_and_unjoined_session_fails(ctx, db, booking, clinic, clock):
    ctx["settings"] = ctx["settings"].with_(short_link_base=SHORT)
    patient = await booking.find_or_create_patient(clinic.org_id, phone="98450 12345", name="Priya Sharma")
    held = await booking.hold(clinic.org_id, patient_id=patient.id, doctor_id=clinic.tele_doctor_id,
                              branch_id=clinic.branch_id, appointment_type_id=clinic.tele_paid_id,
                              start=ist(3, 10), channel="sms")
    pending = await booking.confirm(held.id)
    await tick(ctx)
    clock.set(ist(3, 9, 50))
    await tick(ctx)
    assert await outbound(db, purpose="tele_link") == []     # not paid: no link, no room
    assert await events(db) == []
    await booking.record_payment(pending.id, reference="PAY-TEST-1", amount_minor=50000)
    await tick(ctx)                                           # paid inside the lead time: at once
    [row] = await outbound(db, purpose="tele_link")
    assert row.appointment_id == pending.id
    clock.set(ist(3, 10, 16))                                 # nobody joined by the end
    await tick(ctx)
    assert await events(db) == [("tele.room.created", pending.id), ("tele.session.failed", pending.id)]
