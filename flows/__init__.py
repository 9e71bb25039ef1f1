"""Conversation state machines. Channel-blind: no aiohttp, pywa or twilio in here.

Entry point: `flows.runtime.run_turn(inbound, state, conversation, deps) -> TurnOutcome`.
Modules: `engine` (declarative Flow/State, checked at import; `FlowError`), `turn` (the
per-turn context flows act through), `runtime` (global commands, restarts, misses),
`menu` (first contact, main menu, language), `book`, `appointments` (my appointments,
reschedule, cancel, ASAP list), `picking` (date/slot steps shared by book and
reschedule), `understand/` (free-text parsers; word lists in `understand/words.py`).
"""
