"""Typed channel errors: one base, subclasses the edge and the send jobs act on.

Provider error codes (WhatsApp Graph API, Twilio REST) are mapped once, here, so the
outbox decides retry / template fallback / give up from the type, never from a number.
Codes follow pywa's `errors` module and Twilio's error dictionary.
"""

from __future__ import annotations


class ChannelError(Exception):
    """Base of every error raised by `bot.channels`."""


class SignatureError(ChannelError):
    """A webhook's signature (or verify token) is missing or wrong: answer 401/403, do nothing."""


class PayloadError(ChannelError):
    """A webhook body is not what the provider sends: answer 400, do nothing."""


class SendError(ChannelError):
    """A send failed. `code` is the provider's error code when it gave one."""

    def __init__(
        self,
        code: int | None,
        message: str,
        retryable: bool,
        retry_after_s: float | None = None,
    ) -> None:
        super().__init__(f"{code}: {message}" if code is not None else message)
        self.code = code
        self.message = message
        self.retryable = retryable
        self.retry_after_s = retry_after_s

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(code={self.code!r}, retryable={self.retryable!r}, "
            f"retry_after_s={self.retry_after_s!r})"
        )


class ReEngagementRequired(SendError):
    """WhatsApp 131047: more than 24 h since the user last wrote; send an approved template."""

    def __init__(self, code: int | None = 131047, message: str = "re-engagement message required") -> None:
        super().__init__(code, message, retryable=False)


class ThroughputExceeded(SendError):
    """Rate or throughput limit hit; retry with backoff (at least `retry_after_s`)."""

    def __init__(self, code: int | None, message: str, retry_after_s: float | None = None) -> None:
        super().__init__(code, message, retryable=True, retry_after_s=retry_after_s)


class Undeliverable(SendError):
    """The provider will never deliver this (WhatsApp 131026, unreachable number): record, no retry."""

    def __init__(self, code: int | None, message: str) -> None:
        super().__init__(code, message, retryable=False)


class RecipientOptedOut(SendError):
    """The recipient unsubscribed (Twilio 21610, WhatsApp 131050): mark opted out, no retry."""

    def __init__(self, code: int | None, message: str) -> None:
        super().__init__(code, message, retryable=False)


class TransientSendError(SendError):
    """Provider 5xx, timeout or connection failure: retry with backoff."""

    def __init__(self, code: int | None, message: str, retry_after_s: float | None = None) -> None:
        super().__init__(code, message, retryable=True, retry_after_s=retry_after_s)


class PermanentSendError(SendError):
    """Any other rejection (bad parameter, auth, template missing…): do not retry."""

    def __init__(self, code: int | None, message: str) -> None:
        super().__init__(code, message, retryable=False)


# WhatsApp Graph API codes (see pywa.errors). Seconds are the least sensible wait.
_WA_THROUGHPUT_S: dict[int, float] = {
    4: 60.0,          # too many API calls (app level)
    80007: 60.0,      # WABA rate limit
    130429: 1.0,      # Cloud API throughput reached
    131048: 60.0,     # spam rate limit
    131056: 6.0,      # pair rate limit: one message per ~6 s to the same user
    133016: 60.0,
}
_WA_TRANSIENT = frozenset({1, 2, 131000, 131016, 135000})
_WA_UNDELIVERABLE = frozenset({131026, 131049, 131021, 131030})
_WA_OPTED_OUT = frozenset({131050})
_WA_REENGAGE = frozenset({131047})


def whatsapp_error(code: int | None, message: str) -> SendError:
    """The typed error for a WhatsApp Cloud API error `code`."""
    if code in _WA_REENGAGE:
        return ReEngagementRequired(code, message)
    if code in _WA_THROUGHPUT_S:
        return ThroughputExceeded(code, message, retry_after_s=_WA_THROUGHPUT_S[code])
    if code in _WA_UNDELIVERABLE:
        return Undeliverable(code, message)
    if code in _WA_OPTED_OUT:
        return RecipientOptedOut(code, message)
    if code in _WA_TRANSIENT or code is None:
        return TransientSendError(code, message)
    return PermanentSendError(code, message)


# Twilio error dictionary (https://www.twilio.com/docs/api/errors).
_TW_OPTED_OUT = frozenset({21610})
_TW_UNDELIVERABLE = frozenset({21211, 21612, 21614, 30003, 30004, 30005, 30006, 30007, 21408})
_TW_THROUGHPUT_S: dict[int, float] = {20429: 1.0, 14107: 1.0, 30022: 5.0}


def twilio_error(code: int | None, status: int | None, message: str) -> SendError:
    """The typed error for a Twilio REST error (`code` from the body, `status` the HTTP status)."""
    if code in _TW_OPTED_OUT:
        return RecipientOptedOut(code, message)
    if code in _TW_THROUGHPUT_S:
        return ThroughputExceeded(code, message, retry_after_s=_TW_THROUGHPUT_S[code])
    if status == 429:
        return ThroughputExceeded(code, message, retry_after_s=1.0)
    if code in _TW_UNDELIVERABLE:
        return Undeliverable(code, message)
    if status is None or status >= 500:
        return TransientSendError(code, message)
    return PermanentSendError(code, message)
