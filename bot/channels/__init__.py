"""Channels: verify and parse provider webhooks into `Inbound`s, render abstract replies,
and send them through the provider SDKs (pywa for WhatsApp, twilio for SMS).

This package never imports `flows/`; the dispatcher joins the two.
"""
