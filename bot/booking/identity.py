"""Patient-facing identifiers: opaque booking codes and E.164 phone numbers."""

from __future__ import annotations

import secrets

import phonenumbers

from bot.booking.errors import InvalidInput

# No 0/O, 1/I/L: codes are read aloud and typed on phones.
CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
CODE_PREFIX = "MM-"
CODE_LENGTH = 5
DEFAULT_REGION = "IN"


def new_booking_code() -> str:
    """A random opaque booking code such as `MM-7KQ2X`."""
    return CODE_PREFIX + "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def normalize_code(code: str) -> str:
    """Accept `mm 7kq2x`, `7KQ2X`, `MM-7KQ2X` alike."""
    raw = "".join(ch for ch in code.upper() if ch.isalnum())
    if raw.startswith("MM"):
        raw = raw[2:]
    return CODE_PREFIX + raw


def normalize_phone(phone: str, region: str = DEFAULT_REGION) -> str:
    """E.164 form of a phone number (national numbers read in `region`); InvalidInput if not valid."""
    try:
        parsed = phonenumbers.parse(phone, region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidInput("malformed phone number", field="phone") from exc
    if not phonenumbers.is_valid_number(parsed):
        raise InvalidInput("invalid phone number", field="phone")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
