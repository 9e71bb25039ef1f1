"""Staff handoff: conversations a person has taken over from the bot (state, service, JSON API)."""
