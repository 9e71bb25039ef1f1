"""The HTTP edge: provider webhooks (domain errors become HTTP answers only here)."""
