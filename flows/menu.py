"""Flow 1 (first contact: greeting, language, consent), the main menu, and the
language switch."""

from __future__ import annotations

from bot.i18n import SUPPORTED_LANGUAGES
from bot.messages import Option
from flows.engine import MISSED, Flow, Handled, State
from flows.turn import Answer, Turn
from flows.understand.text import normalize
from flows.understand.yesno import yes_no

# Language names are shown in their own script, never translated.
LANGUAGE_NAMES: dict[str, str] = {"en": "English", "hi": "हिन्दी", "ta": "தமிழ்"}
LANGUAGE_WORDS: dict[str, str] = {
    "english": "en", "angrezi": "en", "hindi": "hi", "हिंदी": "hi", "हिन्दी": "hi",
    "tamil": "ta", "தமிழ்": "ta",
}
CONSENT_PURPOSE = "service"


def language_options() -> list[Option]:
    return [Option(f"lang:{code}", LANGUAGE_NAMES[code]) for code in SUPPORTED_LANGUAGES]


def picked_language(answer: Answer) -> str | None:
    if answer.choice and answer.choice.startswith("lang:"):
        return answer.choice[5:]
    norm = normalize(answer.text)
    return LANGUAGE_WORDS.get(norm) or (norm if norm in SUPPORTED_LANGUAGES else None)


class MenuFlow(Flow):
    """The main menu: what the patient can do."""

    name = "menu"
    main = State(initial=True)

    async def ask_main(self, turn: Turn) -> None:
        t = turn.t
        turn.choices(t("How can I help you?"), [
            Option("book", t("Book appointment")),
            Option("appointments", t("My appointments")),
            Option("human", t("Talk to a person")),
            Option("language", t("Language")),
            Option("help", t("Help")),
        ], button=t("Menu"))

    async def on_main(self, turn: Turn, answer: Answer) -> Handled:
        choice = answer.choice
        norm = answer.norm
        if choice is None:   # a few natural words for the menu items
            if any(w in norm for w in ("book", "appointment", "बुक", "முன்பதிவு")) and "my" not in norm:
                choice = "book"
            elif "my" in norm or "मेरे" in norm or "என்" in norm:
                choice = "appointments"
        if choice in ("book", "appointments", "language"):
            await turn.start(choice)
        elif choice == "human":
            turn.hand_off("patient_request")
        elif choice == "help":
            send_help(turn)
            await self.ask_main(turn)
        else:
            return MISSED
        return None


def send_help(turn: Turn) -> None:
    t = turn.t
    turn.say(t("I can book, move or cancel appointments with our doctors. Reply with the number "
               "of an option, or type: \"menu\" for the main menu, \"back\" to go back, "
               "\"human\" to talk to our team, \"language\" to change language."))


class LanguageFlow(Flow):
    """Change the conversation language (also saved on the patient)."""

    name = "language"
    pick = State(initial=True)
    done = State(final=True)
    pick.to(done)

    async def ask_pick(self, turn: Turn) -> None:
        turn.buttons(turn.t("Which language do you prefer?"), language_options())

    async def on_pick(self, turn: Turn, answer: Answer) -> Handled:
        language = picked_language(answer)
        if language is None:
            return MISSED
        turn.set_language(language)
        await turn.booking.update_patient(turn.patient_id, language=language)
        turn.say(turn.t("Done — I'll write in English from now on."))
        await turn.go(self, "done")
        await turn.start("menu")
        return None


class WelcomeFlow(Flow):
    """First contact: greeting and language, then the notice about messages we send."""

    name = "welcome"
    language = State(initial=True)
    consent = State()
    done = State(final=True)
    language.to(consent)
    consent.to(done)

    async def ask_language(self, turn: Turn) -> None:
        t, name = turn.t, turn.conversation.profile_name
        greeting = t("Hello {name}! Welcome to MyMedic.", name=name) if name else t("Hello! Welcome to MyMedic.")
        if turn.sms:
            # The language names in their own scripts make this SMS UCS-2 (67 characters a
            # segment): only the greeting and the question, so it stays within two.
            turn.buttons(greeting + " " + t("Which language do you prefer?"), language_options())
            return
        turn.buttons(greeting + " " + t("I can help you book and manage doctor appointments. "
                                        "Which language do you prefer?"), language_options())

    async def on_language(self, turn: Turn, answer: Answer) -> Handled:
        language = picked_language(answer)
        if language is None:
            return MISSED
        turn.set_language(language)
        await turn.booking.update_patient(turn.patient_id, language=language)
        await turn.go(self, "consent")
        return None

    async def ask_consent(self, turn: Turn) -> None:
        t = turn.t
        body = t("We'll send you messages here about your appointments (confirmations and reminders). "
                 "You can stop them any time by sending STOP. Is that OK?")
        turn.buttons(body, [Option("consent:yes", t("OK")), Option("consent:no", t("No messages"))])

    async def on_consent(self, turn: Turn, answer: Answer) -> Handled:
        given = {"consent:yes": True, "consent:no": False}.get(answer.choice or "", yes_no(answer.text))
        if given is None:
            return MISSED
        await turn.booking.record_consent(turn.patient_id, channel=turn.channel, purpose=CONSENT_PURPOSE,
                                          given=given, source="chat:first_contact")
        if given:
            turn.say(turn.t("Thank you!"))
        else:
            turn.say(turn.t("Understood: I'll only answer when you write to me."))
        await turn.go(self, "done")
        await turn.start("menu")
        return None
