"""Prepayments: the `PaymentPort` implementation (sandbox gateway), its pay page and the
follow-up job (remind to pay, release unpaid bookings)."""
