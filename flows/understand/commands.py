"""Global commands (menu, back, help, human, language, stop, start) in every language."""

from __future__ import annotations

from enum import StrEnum

from flows.understand.text import normalize
from flows.understand.words import GLOBAL_COMMANDS, SMS_OPT_IN_WORDS, SMS_OPT_OUT_WORDS


class Command(StrEnum):
    MENU = "menu"
    BACK = "back"
    HELP = "help"
    HUMAN = "human"
    LANGUAGE = "language"
    STOP = "stop"
    START = "start"
    BOOK = "book"          # only as an option id ("g:book"), never a typed word


def global_command(text: str | None, *, sms: bool) -> Command | None:
    """The command the whole message is, or None. On SMS the carrier opt-out words
    (STOP, CANCEL, END, QUIT, …) always mean STOP, as Twilio and carriers treat them."""
    norm = normalize(text)
    if not norm:
        return None
    if sms and norm in SMS_OPT_OUT_WORDS:
        return Command.STOP
    if sms and norm in SMS_OPT_IN_WORDS and norm != "yes":
        return Command.START
    for name, words in GLOBAL_COMMANDS.items():
        if norm in words:
            return Command(name)
    return None
