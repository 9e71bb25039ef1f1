"""Conversation state machines. Channel-blind: no aiohttp, pywa or twilio in here."""
