"""Flows 3-6: my appointments (upcoming and past, the ASAP list), reschedule (same
booking code, policy respected), cancel (confirmed first, policy-aware)."""

from __future__ import annotations

import datetime as dt
import logging

from bot.booking.errors import BookingError, InvalidTransition, OutsidePolicy, SlotUnavailable
from bot.booking.types import AppointmentStatus, AppointmentView
from bot.messages import Option
from flows.book import join_asap
from flows.engine import MISSED, Flow, Handled, State
from flows.picking import SlotPicking
from flows.ports import BookingPort
from flows.turn import Answer, Turn
from flows.understand.yesno import yes_no

log = logging.getLogger(__name__)

# What a patient calls "my appointments": a hold left behind by an abandoned chat is not one.
BOOKED = (AppointmentStatus.PENDING_PAYMENT, AppointmentStatus.CONFIRMED)
SHOWN_PAST = (AppointmentStatus.CONFIRMED, AppointmentStatus.COMPLETED, AppointmentStatus.NO_SHOW,
              AppointmentStatus.CANCELLED)


async def booked_upcoming(turn: Turn, limit: int = 9) -> list[AppointmentView]:
    """The patient's (and dependents') upcoming appointments that are really booked."""
    found = await turn.booking.appointments_for(turn.patient_id, upcoming=True, limit=limit + 5)
    return [a for a in found if a.status in BOOKED][:limit]


def status_label(turn: Turn, appt: AppointmentView) -> str:
    t = turn.t
    return {
        AppointmentStatus.HELD: t("on hold"),
        AppointmentStatus.PENDING_PAYMENT: t("awaiting payment"),
        AppointmentStatus.CONFIRMED: t("confirmed"),
        AppointmentStatus.COMPLETED: t("completed"),
        AppointmentStatus.NO_SHOW: t("missed"),
        AppointmentStatus.CANCELLED: t("cancelled"),
        AppointmentStatus.EXPIRED: t("expired"),
    }[appt.status]


def offer_human(turn: Turn, body: str) -> None:
    t = turn.t
    turn.buttons(body, [Option("g:human", t("Talk to a person")), Option("g:menu", t("Main menu"))])


class AppointmentsFlow(Flow):
    """My appointments: pick an upcoming one to move, cancel or watch for earlier times."""

    name = "appointments"
    pick = State(initial=True)
    manage = State()
    done = State(final=True)
    pick.to(manage, done)
    manage.to(done)

    async def ask_pick(self, turn: Turn) -> None:
        t = turn.t
        upcoming = await booked_upcoming(turn)
        past = [a for a in await turn.booking.appointments_for(turn.patient_id, upcoming=False, limit=6)
                if a.status in SHOWN_PAST][:3]
        waitlist = [w for w in await turn.booking.waitlist_for(turn.patient_id) if w.status in ("active", "offered")]
        if past:
            lines = [t("Past visits:")] + [
                f"• {t.datetime(a.start)} — {a.doctor_name} ({status_label(turn, a)})" for a in past]
            turn.say("\n".join(lines))
        options = [Option(f"appt:{a.id}", t.datetime(a.start)[:24],
                          f"{a.doctor_name} · {a.code} · {status_label(turn, a)}"[:72]) for a in upcoming]
        for entry in waitlist[: 10 - len(options)]:
            if entry.appointment_id is None and len(options) < 10:
                options.append(Option(f"leave:{entry.id}", t("Leave early list")[:24]))
        if not options:
            turn.buttons(t("You have no upcoming appointments."),
                         [Option("g:book", t("Book appointment")), Option("g:menu", t("Main menu"))])
            return
        body = t.plural("You have {n} upcoming appointment. Pick it to move or cancel it:",
                        "You have {n} upcoming appointments. Pick one to move or cancel it:", len(upcoming))
        turn.choices(body, options, button=t("Appointments"))

    async def on_pick(self, turn: Turn, answer: Answer) -> Handled:
        choice = answer.choice or ""
        if choice.startswith("appt:"):
            turn.data["appointment_id"] = int(choice[5:])
            await turn.go(self, "manage")
            return None
        if choice.startswith("leave:"):
            await turn.booking.leave_waitlist(int(choice[6:]), channel=turn.channel)
            turn.say(turn.t("You're off the early-time list."))
            await turn.go(self, "done")
            return None
        return MISSED

    async def _waiting(self, turn: Turn, appointment_id: int) -> int | None:
        for entry in await turn.booking.waitlist_for(turn.patient_id):
            if entry.appointment_id == appointment_id and entry.status in ("active", "offered"):
                return entry.id
        return None

    async def ask_manage(self, turn: Turn) -> None:
        t = turn.t
        appt = await turn.booking.get_appointment(int(turn.data["appointment_id"]))
        body = t("{code}: {doctor}, {when}, {branch} ({status}).", code=appt.code, doctor=appt.doctor_name,
                 when=t.datetime(appt.start), branch=appt.branch_name, status=status_label(turn, appt))
        waiting = await self._waiting(turn, appt.id)
        third = (Option(f"leave:{waiting}", t("Leave early list")) if waiting
                 else Option("asap", t("Earlier time alert")))
        # Numbers, not words, on SMS: "2" cancels — never ask anyone to send CANCEL.
        turn.buttons(body, [Option("reschedule", t("Change time")), Option("cancel", t("Cancel visit")), third])

    async def on_manage(self, turn: Turn, answer: Answer) -> Handled:
        choice = answer.choice or ""
        appointment_id = int(turn.data["appointment_id"])
        if choice == "reschedule":
            appt = await turn.booking.get_appointment(appointment_id)
            # Same doctor, same branch, same visit type: only the time moves.
            await turn.start("reschedule", {"appointment_id": appointment_id, "doctor_id": appt.doctor_id,
                                            "type_id": appt.appointment_type_id, "branch_id": appt.branch_id,
                                            "branch_filter": appt.branch_id})
        elif choice == "cancel":
            await turn.start("cancel", {"appointment_id": appointment_id})
        elif choice == "asap":
            await join_asap(turn, await turn.booking.get_appointment(appointment_id))
            await turn.go(self, "done")
        elif choice.startswith("leave:"):
            await turn.booking.leave_waitlist(int(choice[6:]), channel=turn.channel)
            turn.say(turn.t("You're off the early-time list."))
            await turn.go(self, "done")
        else:
            return MISSED
        return None


class CancelFlow(Flow):
    """Cancel an appointment after an explicit yes; the branch's window is respected."""

    name = "cancel"
    confirm = State(initial=True)
    done = State(final=True)
    confirm.to(done)

    async def ask_confirm(self, turn: Turn) -> None:
        t = turn.t
        appt = await turn.booking.get_appointment(int(turn.data["appointment_id"]))
        turn.buttons(t("Cancel your appointment {code} with {doctor} on {when}?", code=appt.code,
                       doctor=appt.doctor_name, when=t.datetime(appt.start)),
                     [Option("yes", t("Yes, cancel it")), Option("no", t("No, keep it"))])

    async def on_confirm(self, turn: Turn, answer: Answer) -> Handled:
        t = turn.t
        choice = answer.choice or {True: "yes", False: "no"}.get(yes_no(answer.text))  # type: ignore[arg-type]
        if choice == "no":
            turn.say(t("OK, your appointment stays as it is."))
        elif choice == "yes":
            try:
                appt = await turn.booking.cancel(int(turn.data["appointment_id"]), reason="patient_chat",
                                                 channel=turn.channel)
            except OutsidePolicy:
                await turn.go(self, "done")
                offer_human(turn, t("Sorry, this appointment is too close to be cancelled by chat. "
                                    "Our team can help you."))
                return None
            except InvalidTransition:
                turn.say(t("This appointment can't be cancelled any more."))
            else:
                turn.say(t("Cancelled: {code} with {doctor}. We hope to see you another time.",
                           code=appt.code, doctor=appt.doctor_name))
        else:
            return MISSED
        await turn.go(self, "done")
        return None


class RescheduleFlow(SlotPicking):
    """Move an appointment to another time with the same doctor (same booking code)."""

    name = "reschedule"
    after_slot = "confirm"
    after_taken = "confirm"

    date = State(initial=True)
    slot = State()
    confirm = State()
    taken = State()
    done = State(final=True)
    date.to(slot)
    slot.to(confirm)
    confirm.to(done, taken, date)
    taken.to(confirm, date)

    async def ask_confirm(self, turn: Turn) -> None:
        t, data = turn.t, turn.data
        appt = await turn.booking.get_appointment(int(data["appointment_id"]))
        new = dt.datetime.fromisoformat(data["start"])
        turn.buttons(t("Move {code} with {doctor} from {old} to {new}?", code=appt.code, doctor=appt.doctor_name,
                       old=t.datetime(appt.start), new=t.datetime(new)),
                     [Option("yes", t("Yes, move it")), Option("change", t("Other time")), Option("no", t("Keep it"))])

    async def on_confirm(self, turn: Turn, answer: Answer) -> Handled:
        t, data = turn.t, turn.data
        choice = answer.choice or {True: "yes", False: "no"}.get(yes_no(answer.text))  # type: ignore[arg-type]
        if choice == "change":
            await turn.go(self, "date")
            return None
        if choice == "no":
            turn.say(t("OK, your appointment stays as it is."))
            await turn.go(self, "done")
            return None
        if choice != "yes":
            return MISSED
        try:
            appt = await turn.booking.reschedule(int(data["appointment_id"]),
                                                 start=dt.datetime.fromisoformat(data["start"]), channel=turn.channel)
        except SlotUnavailable:
            await self.offer_alternatives(turn)
            return None
        except OutsidePolicy:
            await turn.go(self, "done")
            offer_human(turn, t("Sorry, this appointment is too close to be moved by chat. Our team can help you."))
            return None
        except BookingError as exc:
            log.info("reschedule refused: %s", exc.code)
            await turn.go(self, "done")
            offer_human(turn, t("Sorry, I couldn't move this appointment. Our team can help you."))
            return None
        turn.say(t("Done! {code} is now on {when} with {doctor}.", code=appt.code, when=t.datetime(appt.start),
                   doctor=appt.doctor_name))
        await turn.go(self, "done")
        return None


async def reschedule_data(booking: BookingPort, appointment_id: int) -> dict:
    """The data the reschedule flow starts with for `appointment_id` (same doctor, branch
    and visit type: only the time moves). For callers outside a turn, e.g. a reply to a
    reminder that opens the reschedule conversation."""
    appt = await booking.get_appointment(appointment_id)
    return {"appointment_id": appointment_id, "doctor_id": appt.doctor_id, "type_id": appt.appointment_type_id,
            "branch_id": appt.branch_id, "branch_filter": appt.branch_id}
