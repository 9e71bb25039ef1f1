"""Redis key prefixes and lifetimes of the dispatcher, in one place (arq style).

Every key that concerns one conversation ends with `{channel}:{account}:{user_id}`
(see `user_key`), so one user's queue, lock, state and flood bucket sit side by side.
"""

from __future__ import annotations

PREFIX = "mm:"
STATE_PREFIX = PREFIX + "conv:"          # JSON envelope of one conversation's flow state
QUEUE_PREFIX = PREFIX + "inq:"           # per-user FIFO of inbound messages awaiting their turn
LOCK_PREFIX = PREFIX + "inlock:"         # per-user lock; its holder drains the FIFO in order
SEQ_PREFIX = PREFIX + "inseq:"           # per-user arrival counter (order of arrival, observable)
DONE_PREFIX = PREFIX + "indone:"         # one list per queued ticket: the drainer's verdict
BUCKET_PREFIX = PREFIX + "inrate:"       # per-user token bucket against floods
WARNED_PREFIX = PREFIX + "inwarned:"     # set once the user was told to slow down

STATE_TTL_S = 24 * 3600
QUEUE_TTL_S = 3600
SEQ_TTL_S = 24 * 3600
LOCK_TTL_MS = 30_000
DONE_TTL_S = 120


def user_key(channel: str, account: str, user_id: str) -> str:
    """The suffix naming one conversation: a user as seen by one of our numbers."""
    return f"{channel}:{account}:{user_id}"
