"""The one place that joins channels and flows: tenancy, dedupe, per-user ordering,
conversation state, handoff, opt-out, and handing replies to the outbox."""
