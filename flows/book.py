"""Flow 2, booking: doctor or specialty (or nearest branch) → visit type → date → slot
→ who it is for → name on first booking → confirm (hold, then confirm) → prepay when
the visit type needs it → confirmation with the booking code and where to go."""

from __future__ import annotations

import datetime as dt
import logging

from bot.booking.errors import HoldExpired, NotFound, OutsidePolicy, SlotUnavailable, TooManyHolds
from bot.booking.types import AppointmentStatus, AppointmentView, BranchView, DoctorView, VisitMode
from bot.messages import Location, Option, PaymentRequest
from flows.engine import MISSED, Handled, State
from flows.picking import SlotPicking
from flows.turn import Answer, Turn
from flows.understand.doctors import match_doctors
from flows.understand.specialties import match_specialty
from flows.understand.words import RELATIONS
from flows.understand.text import normalize, tokens

log = logging.getLogger(__name__)

MAX_DOCTORS = 10


def specialty_label(turn: Turn, slug: str) -> str:
    """A specialty slug as shown to patients (literal msgids so pybabel extracts them)."""
    t = turn.t
    labels = {
        "cardiology": t("Cardiology"), "dermatology": t("Dermatology"), "pediatrics": t("Pediatrics"),
        "orthopedics": t("Orthopedics"), "dentistry": t("Dentistry"), "ophthalmology": t("Eye care"),
        "gynecology": t("Gynecology"), "ent": t("Ear, nose & throat"), "general_medicine": t("General medicine"),
        "psychiatry": t("Psychiatry"), "neurology": t("Neurology"), "physiotherapy": t("Physiotherapy"),
    }
    return labels.get(slug) or slug.replace("_", " ").capitalize()


def relation_label(turn: Turn, relation: str) -> str:
    t = turn.t
    labels = {"child": t("Child"), "parent": t("Parent"), "spouse": t("Spouse"), "other": t("Other"),
              "self": t("Self")}
    return labels.get(relation, relation)


def doctor_option(turn: Turn, doctor: DoctorView) -> Option:
    specs = ", ".join(specialty_label(turn, s) for s in doctor.specialties[:2])
    return Option(f"doc:{doctor.id}", doctor.display_name[:24], specs[:72] or None)


async def announce_booking(turn: Turn, appt: AppointmentView) -> None:
    """The confirmation (or the payment request) for a freshly confirmed appointment."""
    t = turn.t
    when = t.datetime(appt.start)
    if appt.status is AppointmentStatus.PENDING_PAYMENT:
        url, reference = await turn.deps.payments.payment_link(appt)
        amount = t.money(appt.prepay_minor, appt.currency, ascii_symbol=turn.sms)
        turn.say(t("Almost done: {doctor} on {when} is reserved for you (booking code {code}). "
                   "Please pay {amount} to confirm — we'll confirm as soon as the payment arrives.",
                   doctor=appt.doctor_name, when=when, code=appt.code, amount=amount))
        turn.send(PaymentRequest(body=t("Pay {amount} for booking {code}", amount=amount, code=appt.code),
                                 amount_minor=appt.prepay_minor, currency=appt.currency,
                                 reference=reference, url=url))
        return
    turn.say(t("Booked! Your booking code is {code}.\n{doctor}, {when}, {branch}.",
               code=appt.code, doctor=appt.doctor_name, when=when, branch=appt.branch_name))
    if appt.mode is VisitMode.TELE:
        turn.say(t("This is a video consultation: we'll send you the link before it starts."))
        return
    branch = await turn.booking.get_branch(appt.branch_id)
    if branch.latitude is not None and branch.longitude is not None:
        turn.send(Location(latitude=branch.latitude, longitude=branch.longitude,
                           name=branch.name, address=branch.address))
    else:
        turn.say(t("Address: {address}", address=branch.address))


class BookFlow(SlotPicking):
    """Book an appointment."""

    name = "book"
    after_slot = "who"
    after_taken = "confirm"

    find = State(initial=True)
    pick_doctor = State()
    kind = State()
    date = State()
    slot = State()
    who = State()
    name_self = State()
    dependent = State()
    new_name = State()
    new_relation = State()
    confirm = State()
    taken = State()
    after = State()
    done = State(final=True)

    find.to(pick_doctor, kind, date, find)
    pick_doctor.to(kind, date)
    kind.to(date)
    date.to(slot)
    slot.to(who, find)
    who.to(name_self, dependent, new_name, confirm)
    name_self.to(confirm)
    dependent.to(confirm, new_name)
    new_name.to(new_relation)
    new_relation.to(confirm)
    confirm.to(taken, after, date, done)
    taken.to(confirm, date)
    after.to(done)

    # -- find a doctor ---------------------------------------------------------------
    async def ask_find(self, turn: Turn) -> None:
        t = turn.t
        specialties = await turn.booking.list_specialties(turn.org_id)
        options = [Option(f"spec:{s}", specialty_label(turn, s)[:24]) for s in specialties[:10]]
        # SMS cannot share a location: ask only for the area there (and keep it short).
        body = (t("Which doctor or specialty? Pick one or type a name (e.g. \"dr mehta\", \"skin doctor\"). "
                  "Type your area to find the nearest clinic.") if turn.sms else
                t("Which doctor or specialty? Pick one or type a name (e.g. \"dr mehta\", \"skin doctor\"). "
                  "Share your location or type your area to find the nearest clinic."))
        if options:
            turn.choices(body, options, button=t("Specialties"))
        else:
            turn.ask_free_text(body)

    async def on_find(self, turn: Turn, answer: Answer) -> Handled:
        t, data = turn.t, turn.data
        if answer.latitude is not None and answer.longitude is not None:
            branches = await turn.booking.nearest_branches(
                turn.org_id, latitude=answer.latitude, longitude=answer.longitude, limit=1)
            return await self._near(turn, branches)
        if answer.choice and answer.choice.startswith("spec:"):
            return await self._specialty(turn, answer.choice[5:])
        specialties = await turn.booking.list_specialties(turn.org_id)
        slug = match_specialty(answer.text, specialties)
        if slug:
            return await self._specialty(turn, slug)
        if answer.norm:
            found = await turn.booking.search_doctors(
                turn.org_id, query=answer.text, branch_id=data.get("branch_filter"), limit=MAX_DOCTORS)
            doctors = match_doctors(answer.text, found)
            if doctors:
                return await self._doctors(turn, doctors)
            branches = await turn.booking.nearest_branches(turn.org_id, place=answer.text, limit=1)
            if branches and _names_place(answer.norm, branches[0]):
                return await self._near(turn, branches)
            turn.say(t("Sorry, I couldn't find a doctor or specialty called \"{query}\".", query=answer.text.strip()))
        return MISSED

    async def _near(self, turn: Turn, branches: list) -> Handled:
        if not branches:
            return MISSED
        branch = await turn.use_branch(branches[0].id)
        turn.data["branch_filter"] = branch.id
        turn.say(turn.t("Your nearest clinic is {branch}, {address}.", branch=branch.name, address=branch.address))
        await turn.go(self, "find")
        return None

    async def _specialty(self, turn: Turn, slug: str) -> Handled:
        doctors = await turn.booking.search_doctors(
            turn.org_id, specialty=slug, branch_id=turn.data.get("branch_filter"), limit=MAX_DOCTORS)
        if not doctors and turn.data.get("branch_filter"):
            doctors = await turn.booking.search_doctors(turn.org_id, specialty=slug, limit=MAX_DOCTORS)
        if not doctors:
            turn.say(turn.t("Sorry, no doctor of that specialty is taking bookings right now."))
            return MISSED
        return await self._doctors(turn, doctors)

    async def _doctors(self, turn: Turn, doctors: list[DoctorView]) -> Handled:
        if len(doctors) == 1:
            await self._chosen(turn, doctors[0], "find")
            return None
        turn.data["doctor_ids"] = [d.id for d in doctors[:MAX_DOCTORS]]
        await turn.go(self, "pick_doctor")
        return None

    async def _chosen(self, turn: Turn, doctor: DoctorView, source: str) -> None:
        data = turn.data
        data["doctor_id"] = doctor.id
        branch_id = data.get("branch_filter")
        if branch_id not in doctor.branch_ids:
            data.pop("branch_filter", None)
            branch_id = doctor.branch_ids[0] if doctor.branch_ids else None
        if branch_id:
            await turn.use_branch(branch_id)
        types = await turn.booking.appointment_types(turn.org_id, doctor.id)
        if len(types) == 1:
            data["type_id"] = types[0].id
            turn.say(turn.t("{doctor} — {visit}.", doctor=doctor.display_name, visit=types[0].name))
            await turn.go(self, "date")
        else:
            turn.say(turn.t("{doctor} it is.", doctor=doctor.display_name))
            await turn.go(self, "kind")

    async def ask_pick_doctor(self, turn: Turn) -> None:
        doctors = [await turn.booking.get_doctor(i) for i in turn.data["doctor_ids"]]
        turn.choices(turn.t("Which doctor would you like to see?"),
                     [doctor_option(turn, d) for d in doctors], button=turn.t("Doctors"))

    async def on_pick_doctor(self, turn: Turn, answer: Answer) -> Handled:
        doctor = None
        if answer.choice and answer.choice.startswith("doc:"):
            doctor = await turn.booking.get_doctor(int(answer.choice[4:]))
        else:
            doctors = [await turn.booking.get_doctor(i) for i in turn.data["doctor_ids"]]
            matches = match_doctors(answer.text, doctors)
            doctor = matches[0] if matches else None
        if doctor is None:
            return MISSED
        await self._chosen(turn, doctor, "pick_doctor")
        return None

    # -- visit type ------------------------------------------------------------------
    async def ask_kind(self, turn: Turn) -> None:
        t = turn.t
        types = await turn.booking.appointment_types(turn.org_id, turn.data["doctor_id"])
        options = []
        for ty in types[:10]:
            mode = t("Video call") if ty.mode is VisitMode.TELE else t("At the clinic")
            desc = mode if not ty.prepay_minor else t("{mode}, pay {amount} ahead", mode=mode,
                                                     amount=t.money(ty.prepay_minor, ty.currency,
                                                                    ascii_symbol=turn.sms))
            options.append(Option(f"type:{ty.id}", ty.name[:24], desc))
        turn.choices(t("What kind of visit?"), options, button=t("Visit types"))

    async def on_kind(self, turn: Turn, answer: Answer) -> Handled:
        if not (answer.choice and answer.choice.startswith("type:")):
            return MISSED
        turn.data["type_id"] = int(answer.choice[5:])
        await turn.go(self, "date")
        return None

    async def no_slots(self, turn: Turn) -> None:
        turn.say(turn.t("You can pick another doctor, or type \"human\" to talk to our team."))
        await turn.go(self, "find")

    # -- who is it for ---------------------------------------------------------------
    async def ask_who(self, turn: Turn) -> None:
        t = turn.t
        turn.buttons(t("Who is the appointment for?"), [
            Option("me", t("Me")), Option("family", t("Family member")), Option("new", t("Someone new")),
        ])

    async def on_who(self, turn: Turn, answer: Answer) -> Handled:
        patient = await turn.patient()
        if answer.choice == "me":
            turn.data["for_id"] = patient.id
            await turn.go(self, "confirm" if patient.name else "name_self")
        elif answer.choice == "family":
            dependents = await turn.booking.dependents(patient.id)
            if dependents:
                await turn.go(self, "dependent")
            else:
                turn.say(turn.t("I don't have any family members on your account yet."))
                await turn.go(self, "new_name")
        elif answer.choice == "new":
            await turn.go(self, "new_name")
        else:
            return MISSED
        return None

    async def ask_name_self(self, turn: Turn) -> None:
        turn.ask_free_text(turn.t("What is your full name, as it should appear on the booking?"))

    async def on_name_self(self, turn: Turn, answer: Answer) -> Handled:
        name = _clean_name(answer.text)
        if not name:
            return MISSED
        patient = await turn.booking.update_patient(turn.patient_id, name=name)
        turn.set_patient(patient)
        await turn.go(self, "confirm")
        return None

    async def ask_dependent(self, turn: Turn) -> None:
        t = turn.t
        dependents = await turn.booking.dependents(turn.patient_id)
        options = [Option(f"dep:{d.id}", (d.name or "?")[:24], relation_label(turn, d.relation))
                   for d in dependents[:9]]
        options.append(Option("new", t("Someone new")))
        turn.choices(t("Which family member?"), options, button=t("Family"))

    async def on_dependent(self, turn: Turn, answer: Answer) -> Handled:
        if answer.choice == "new":
            await turn.go(self, "new_name")
        elif answer.choice and answer.choice.startswith("dep:"):
            turn.data["for_id"] = int(answer.choice[4:])
            await turn.go(self, "confirm")
        else:
            return MISSED
        return None

    async def ask_new_name(self, turn: Turn) -> None:
        turn.ask_free_text(turn.t("What is the patient's full name?"))

    async def on_new_name(self, turn: Turn, answer: Answer) -> Handled:
        name = _clean_name(answer.text)
        if not name:
            return MISSED
        turn.data["new_name"] = name
        await turn.go(self, "new_relation")
        return None

    async def ask_new_relation(self, turn: Turn) -> None:
        t = turn.t
        turn.choices(t("How are they related to you?"), [
            Option("rel:child", t("Child")), Option("rel:parent", t("Parent")),
            Option("rel:spouse", t("Spouse")), Option("rel:other", t("Other")),
        ], button=t("Relation"))

    async def on_new_relation(self, turn: Turn, answer: Answer) -> Handled:
        relation = answer.choice[4:] if answer.choice and answer.choice.startswith("rel:") else RELATIONS.get(answer.norm)
        if not relation:
            return MISSED
        dependent = await turn.booking.add_dependent(turn.patient_id, name=turn.data.pop("new_name"), relation=relation)
        turn.data["for_id"] = dependent.id
        await turn.go(self, "confirm")
        return None

    # -- confirm: hold on entry, confirm on "yes" ---------------------------------------
    async def _hold(self, turn: Turn) -> AppointmentView | None:
        """Hold the chosen slot; on SlotUnavailable offer the next ones and return None."""
        data = turn.data
        try:
            appt = await turn.booking.hold(
                turn.org_id, patient_id=data.get("for_id") or turn.patient_id, doctor_id=data["doctor_id"],
                branch_id=data["branch_id"], appointment_type_id=data["type_id"],
                start=dt.datetime.fromisoformat(data["start"]), channel=turn.channel)
        except SlotUnavailable:
            await self.offer_alternatives(turn)
            return None
        except (OutsidePolicy, TooManyHolds) as exc:
            log.info("hold refused: %s", exc.code)
            turn.say(turn.t("Sorry, that time can't be booked by chat. Please pick another one."))
            await turn.go(self, "date")
            return None
        data["appointment_id"] = appt.id
        return appt

    async def ask_confirm(self, turn: Turn) -> None:
        t = turn.t
        await self._release(turn)
        appt = await self._hold(turn)
        if appt is None:
            return
        lines = [t("Please check your booking:"),
                 t("Doctor: {doctor}", doctor=appt.doctor_name),
                 t("When: {when}", when=t.datetime(appt.start)),
                 t("Where: {branch}", branch=appt.branch_name) if appt.mode is VisitMode.IN_PERSON
                 else t("Where: video call"),
                 t("Patient: {name}", name=appt.patient_name or "")]
        if appt.prepay_minor:
            amount = t.money(appt.prepay_minor, appt.currency, ascii_symbol=turn.sms)
            lines.append(t("To pay ahead: {amount}", amount=amount))
        turn.buttons("\n".join(lines), [
            Option("yes", t("Confirm")), Option("change", t("Change time")), Option("menu", t("Main menu")),
        ])

    async def _release(self, turn: Turn) -> None:
        """Let go of an earlier hold of this conversation (after "back" or a new time)."""
        old = turn.data.pop("appointment_id", None)
        if old:
            try:
                await turn.booking.cancel(int(old), reason="released_in_chat", channel=turn.channel)
            except Exception as exc:  # noqa: BLE001 - a lapsed/changed hold needs no release
                log.info("hold %s not released: %s", old, type(exc).__name__)

    async def on_confirm(self, turn: Turn, answer: Answer) -> Handled:
        from flows.understand.yesno import yes_no

        choice = answer.choice or {True: "yes", False: "menu"}.get(yes_no(answer.text))  # type: ignore[arg-type]
        if choice == "change":
            await self._release(turn)
            await turn.go(self, "date")
            return None
        if choice == "menu":
            await self._release(turn)
            await turn.start("menu")
            return None
        if choice != "yes":
            return MISSED
        appt_id = int(turn.data["appointment_id"])
        try:
            appt = await turn.booking.confirm(appt_id, channel=turn.channel)
        except HoldExpired:
            # The hold lapsed while they were thinking: take the slot again if it is still free.
            turn.data.pop("appointment_id", None)
            turn.say(turn.t("That took a little while, so I checked the time again."))
            held = await self._hold(turn)
            if held is None:
                return None
            appt = await turn.booking.confirm(held.id, channel=turn.channel)
        except NotFound:
            turn.data.pop("appointment_id", None)
            await self.offer_alternatives(turn)
            return None
        # The booking is made: "back" must never walk into (and re-hold) it again.
        turn.data.pop("appointment_id", None)
        turn.data["booked_id"] = appt.id
        turn.session["history"] = []
        await announce_booking(turn, appt)
        await turn.go(self, "after")
        return None

    # -- after: the ASAP list ----------------------------------------------------------
    async def ask_after(self, turn: Turn) -> None:
        t = turn.t
        turn.buttons(t("Would you like me to tell you if an earlier time opens with this doctor?"), [
            Option("asap", t("Yes, tell me")), Option("menu", t("No, thanks")),
        ])

    async def on_after(self, turn: Turn, answer: Answer) -> Handled:
        from flows.understand.yesno import yes_no

        choice = answer.choice or {True: "asap", False: "menu"}.get(yes_no(answer.text))  # type: ignore[arg-type]
        if choice == "asap":
            appt = await turn.booking.get_appointment(int(turn.data["booked_id"]))
            await join_asap(turn, appt)
        elif choice == "menu":
            turn.say(turn.t("All set. Type \"menu\" any time for more."))
        else:
            return MISSED
        await turn.go(self, "done")
        return None


async def join_asap(turn: Turn, appt: AppointmentView) -> None:
    """Put the appointment on the ASAP list: we message the patient if an earlier slot opens."""
    await turn.booking.join_waitlist(
        turn.org_id, patient_id=turn.patient_id, doctor_id=appt.doctor_id, branch_id=appt.branch_id,
        latest=appt.start, appointment_id=appt.id, channel=turn.channel)
    turn.say(turn.t("Done: I'll message you if an earlier time opens with {doctor}. "
                    "You can leave the list from \"My appointments\".", doctor=appt.doctor_name))


def _names_place(norm: str, branch: BranchView) -> bool:
    """Whether the text really names the branch's city or area (the core's match is fuzzy)."""
    hay = normalize(f"{branch.city} {branch.name} {branch.address}")
    return any(word in hay for word in tokens(norm) if len(word) >= 4)


def _clean_name(text: str | None) -> str | None:
    name = " ".join((text or "").split())
    if not (2 <= len(name) <= 80) or any(ch.isdigit() for ch in name):
        return None
    return name.title() if name.islower() else name
