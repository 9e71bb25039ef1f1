"""Date and slot picking, shared by booking and rescheduling.

A flow that mixes in `SlotPicking` declares the states `date`, `slot` and `taken`
and sets `after_slot` to the state that follows a picked slot. The picked slot is
kept in `turn.data` as `start` (ISO UTC) and `branch_id`.
"""

from __future__ import annotations

import datetime as dt
from typing import ClassVar
from zoneinfo import ZoneInfo

from bot.booking.types import PartOfDay, SlotView
from bot.messages import Option
from flows.engine import MISSED, Flow, FlowDefinitionError, Handled
from flows.turn import MORE_ID, Answer, Turn
from flows.understand.dates import parse_date
from flows.understand.text import normalize
from flows.understand.timeofday import parse_time_wish, part_of_day
from flows.understand.words import MORE_WORDS

PAGE = 9            # slots per page; the 10th row is "More…"
DAYS_OFFERED = 7    # date rows: today … +6
ALTERNATIVES = 3    # next free slots offered when the chosen one was taken


def part_label(turn: Turn, part: PartOfDay) -> str:
    t = turn.t
    return {PartOfDay.MORNING: t("Morning"), PartOfDay.AFTERNOON: t("Afternoon"),
            PartOfDay.EVENING: t("Evening")}[part]


def slot_part(slot: SlotView) -> PartOfDay:
    return part_of_day(slot.start.astimezone(ZoneInfo(slot.timezone)))


def slot_option(turn: Turn, slot: SlotView, *, with_date: bool, labelled: bool = True) -> Option:
    """One slot as a row: the time (and date), labelled with its part of day unless
    `labelled` is false."""
    title = turn.t.datetime(slot.start) if with_date else turn.t.time(slot.start)
    label = part_label(turn, slot_part(slot)) if labelled else None
    return Option(f"s:{slot.start.isoformat()}|{slot.branch_id}", title[:24], label)


def parse_slot_id(choice: str) -> tuple[dt.datetime, int]:
    start, branch = choice[2:].split("|")
    return dt.datetime.fromisoformat(start), int(branch)


class SlotPicking(Flow, abstract=True):
    """Mixin: the `date`, `slot` and `taken` states of a flow that picks a time."""

    after_slot: ClassVar[str] = ""
    after_taken: ClassVar[str] = ""

    def __init_subclass__(cls, abstract: bool = False, **kwargs: object) -> None:
        super().__init_subclass__(abstract=abstract, **kwargs)
        if abstract:
            return
        # The shared steps move along these edges; check them at import like any other.
        needed = {"date": {"slot"}, "slot": {cls.after_slot}, "taken": {cls.after_taken, "date"}}
        for source, targets in needed.items():
            missing = targets - set(cls.edges.get(source, {}))
            if missing:
                raise FlowDefinitionError(f"flow {cls.name}: SlotPicking needs {source} -> {sorted(missing)}")

    def local_today(self, turn: Turn) -> dt.date:
        return turn.now.astimezone(ZoneInfo(turn.tz)).date()

    # -- date ------------------------------------------------------------------------
    async def free_days(self, turn: Turn) -> list[dt.date]:
        """The days of the next week on which the chosen doctor (at the chosen branch, for
        the chosen visit type) has at least one free slot."""
        today, data = self.local_today(turn), turn.data
        days = []
        for i in range(DAYS_OFFERED):
            day = today + dt.timedelta(days=i)
            # One slot is enough to know; a day without any is never offered as a row.
            if await turn.booking.free_slots(
                turn.org_id, doctor_id=data["doctor_id"], branch_id=data.get("branch_filter"),
                appointment_type_id=data.get("type_id"), day=day, limit=1,
            ):
                days.append(day)
        return days

    async def ask_date(self, turn: Turn) -> None:
        t, today = turn.t, self.local_today(turn)
        options = [Option("d:first", t("First free time"))]
        for day in await self.free_days(turn):
            i = (day - today).days
            title = t("Today") if i == 0 else t("Tomorrow") if i == 1 else t.date(day)
            options.append(Option(f"d:{day.isoformat()}", title))
        turn.choices(t("When would you like to come? Pick a day, or type one (e.g. \"friday evening\", \"12 dec\")."),
                     options, button=t("Days"))

    async def on_date(self, turn: Turn, answer: Answer) -> Handled:
        data = turn.data
        data.pop("part", None), data.pop("after", None)
        data["offset"] = 0
        if answer.choice == "d:first":
            data["day"] = None
        elif answer.choice and answer.choice.startswith("d:"):
            data["day"] = answer.choice[2:]
        else:
            day = parse_date(answer.text, self.local_today(turn))
            wish = parse_time_wish(answer.text)
            if day is None and wish is None:
                return MISSED
            data["day"] = (day or self.local_today(turn)).isoformat() if (day or wish) else None
            if wish and wish.part_of_day:
                data["part"] = wish.part_of_day.value
            if wish and wish.after:
                data["after"] = wish.after.isoformat()
        await turn.go(self, "slot")
        return None

    # -- slot ------------------------------------------------------------------------
    async def _slots(self, turn: Turn, *, day: dt.date | None, offset: int, limit: int) -> list[SlotView]:
        data = turn.data
        after = None
        if data.get("after") and day is not None:
            after = dt.datetime.combine(day, dt.time.fromisoformat(data["after"]), ZoneInfo(turn.tz))
            after = after.astimezone(dt.timezone.utc)
        return await turn.booking.free_slots(
            turn.org_id, doctor_id=data["doctor_id"], branch_id=data.get("branch_filter"),
            appointment_type_id=data.get("type_id"), day=day, after=after,
            part_of_day=PartOfDay(data["part"]) if data.get("part") else None,
            limit=limit, offset=offset,
        )

    async def ask_slot(self, turn: Turn) -> None:
        t, data = turn.t, turn.data
        day = dt.date.fromisoformat(data["day"]) if data.get("day") else None
        offset = int(data.get("offset", 0))
        slots = await self._slots(turn, day=day, offset=offset, limit=PAGE + 1)
        with_date = day is None
        if not slots and day is not None and offset == 0:
            turn.say(t("No free times on {day} for that part of the day.", day=t.date(day))
                     if data.get("part") or data.get("after") else
                     t("No free times on {day}.", day=t.date(day)))
            data.update(day=None, part=None, after=None)
            slots = await self._slots(turn, day=None, offset=0, limit=PAGE + 1)
            with_date = True
        if not slots:
            turn.say(t("Sorry, there are no free times with this doctor in the coming weeks."))
            await self.no_slots(turn)
            return
        # On SMS a label repeated on every row ("9:00 am - Morning" nine times) doubles the
        # segments and says nothing: label the rows only when the page spans parts of the day.
        labelled = not turn.sms or len({slot_part(s) for s in slots[:PAGE]}) > 1
        options = [slot_option(turn, s, with_date=with_date, labelled=labelled) for s in slots[:PAGE]]
        if len(slots) > PAGE:
            options.append(Option(MORE_ID, t("More times…")))
        body = (t("Free times on {day} — pick one, or type another day:", day=t.date(day)) if day
                else t("The next free times — pick one, or type a day:"))
        turn.choices(body, options, button=t("Times"))

    async def no_slots(self, turn: Turn) -> None:
        """Called when the doctor has nothing free at all; flows override."""
        await turn.start("menu")

    async def on_slot(self, turn: Turn, answer: Answer) -> Handled:
        data = turn.data
        if answer.choice == MORE_ID or (answer.choice is None and normalize(answer.text) in MORE_WORDS):
            data["offset"] = int(data.get("offset", 0)) + PAGE
            await self.ask_slot(turn)
            return None
        if answer.choice and answer.choice.startswith("s:"):
            start, branch_id = parse_slot_id(answer.choice)
            data.update(start=start.isoformat(), branch_id=branch_id)
            await turn.go(self, self.after_slot)
            return None
        # Another day or part of day typed here: show that instead.
        day = parse_date(answer.text, self.local_today(turn))
        wish = parse_time_wish(answer.text)
        if day is None and wish is None:
            return MISSED
        if day is not None:
            data["day"] = day.isoformat()
            data.pop("part", None), data.pop("after", None)
        elif not data.get("day"):
            data["day"] = self.local_today(turn).isoformat()
        if wish:
            data["part"] = wish.part_of_day.value if wish.part_of_day else None
            data["after"] = wish.after.isoformat() if wish.after else None
        data["offset"] = 0
        await self.ask_slot(turn)
        return None

    # -- taken: the chosen slot went meanwhile ----------------------------------------
    async def offer_alternatives(self, turn: Turn) -> None:
        """Say the time was taken and offer the doctor's next free slots."""
        turn.say(turn.t("Sorry, that time was just taken by someone else."))
        await turn.go(self, "taken")

    async def ask_taken(self, turn: Turn) -> None:
        t, data = turn.t, turn.data
        after = dt.datetime.fromisoformat(data["start"]) if data.get("start") else None
        search = dict(doctor_id=data["doctor_id"], appointment_type_id=data.get("type_id"),
                      branch_id=data.get("branch_filter"), limit=ALTERNATIVES)
        slots = await turn.booking.free_slots(turn.org_id, after=after, **search)
        if len(slots) < ALTERNATIVES:   # too few later ones: the earliest free overall
            slots = await turn.booking.free_slots(turn.org_id, **search)
        options = [slot_option(turn, s, with_date=True) for s in slots]
        options.append(Option("other_day", t("Another day")))
        turn.choices(t("Here are the next free times with this doctor:"), options, button=t("Times"))

    async def on_taken(self, turn: Turn, answer: Answer) -> Handled:
        if answer.choice == "other_day":
            await turn.go(self, "date")
            return None
        if answer.choice and answer.choice.startswith("s:"):
            start, branch_id = parse_slot_id(answer.choice)
            turn.data.update(start=start.isoformat(), branch_id=branch_id)
            await turn.go(self, self.after_taken)
            return None
        return MISSED
