"""Typed booking errors with stable codes. The core raises them; the edges translate.

When one is raised nothing has been written: every service call is one transaction.
"""

from __future__ import annotations

from typing import Any


class BookingError(Exception):
    """Base of every booking-core error. `code` is stable and safe to show to API clients."""

    code = "BOOKING_ERROR"

    def __init__(self, message: str = "", **details: Any) -> None:
        super().__init__(message or self.code)
        self.message = message or self.code
        self.details = details

    def to_dict(self) -> dict[str, Any]:
        """The wire shape: {"error": {"code": "SLOT_UNAVAILABLE", "message": …, "details": {…}}}."""
        return {"error": {"code": self.code, "message": self.message, "details": self.details}}


class InvalidInput(BookingError):
    code = "INVALID_INPUT"


class NotFound(BookingError):
    code = "NOT_FOUND"


class SlotUnavailable(BookingError):
    code = "SLOT_UNAVAILABLE"


class HoldExpired(BookingError):
    code = "HOLD_EXPIRED"


class TooManyHolds(BookingError):
    code = "TOO_MANY_HOLDS"


class OutsidePolicy(BookingError):
    """Outside the booking window (lead time, horizon) or the cancellation/reschedule window."""

    code = "OUTSIDE_POLICY"


class InvalidTransition(BookingError):
    """The appointment is not in a state that allows this (e.g. cancelling a cancelled one)."""

    code = "INVALID_TRANSITION"
